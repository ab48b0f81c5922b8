// wrapq/module/quant_spec_json.hpp: reading one quant_spec from a JSON object of a configuration file.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/io/json.hpp"
#include "wrapq/io/json_location.hpp"
#include "wrapq/observers/observer_spec.hpp"
#include "wrapq/observers/spec_names.hpp"

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace wrapq {

namespace detail {

/// Set of observer kinds as bits, plus one bit for a spec without "observer".
constexpr unsigned kind_bit(observer_kind k) noexcept { return 1u << static_cast<unsigned>(k); }
constexpr unsigned no_kind_bit = 1u << 6;
constexpr unsigned all_kind_bits = 0x7Fu;
constexpr unsigned affine_kind_bits = kind_bit(observer_kind::minmax) | kind_bit(observer_kind::ema) |
                                      kind_bit(observer_kind::percentile) | kind_bit(observer_kind::fixed_qparams) |
                                      no_kind_bit;

/// A key of a spec object and the observer kinds it applies to.
struct spec_key {
    std::string_view name;
    unsigned kinds;
};

// dtype and qscheme are meaningless for mx and identity, which ptq_config
// resolves without them. A channel axis is meaningless for the per-tensor-only
// percentile and fixed_qparams observers.
constexpr std::array<spec_key, 18> spec_keys{{
    {"observer", all_kind_bits},
    {"dtype", affine_kind_bits},
    {"qscheme", affine_kind_bits},
    {"channel_axis", kind_bit(observer_kind::minmax) | kind_bit(observer_kind::ema) | no_kind_bit},
    {"momentum", kind_bit(observer_kind::ema)},
    {"ema_form", kind_bit(observer_kind::ema)},
    {"percentile", kind_bit(observer_kind::percentile)},
    {"lower_percentile", kind_bit(observer_kind::percentile)},
    {"upper_percentile", kind_bit(observer_kind::percentile)},
    {"max_samples", kind_bit(observer_kind::percentile)},
    {"samples_per_batch", kind_bit(observer_kind::percentile)},
    {"seed", kind_bit(observer_kind::percentile)},
    {"elem_format", kind_bit(observer_kind::mx)},
    {"axis", kind_bit(observer_kind::mx)},
    {"shared_exp_method", kind_bit(observer_kind::mx)},
    {"round", kind_bit(observer_kind::mx)},
    {"scale", kind_bit(observer_kind::fixed_qparams)},
    {"zero_point", kind_bit(observer_kind::fixed_qparams)},
}};

inline const spec_key* find_spec_key(std::string_view name) noexcept {
    for (const spec_key& key : spec_keys) {
        if (key.name == name) return &key;
    }
    return nullptr;
}

inline std::string spec_key_list() {
    std::string out;
    for (const spec_key& key : spec_keys) out += (out.empty() ? "" : ", ") + std::string(key.name);
    return out;
}

/// "the ema observer" or "the minmax, ema and percentile observers".
inline std::string describe_kinds(unsigned kinds) {
    std::string names;
    int count = 0;
    const int total = std::popcount(kinds & ~no_kind_bit);
    for (const observer_kind k : {observer_kind::minmax, observer_kind::ema, observer_kind::percentile, observer_kind::mx,
                                  observer_kind::identity, observer_kind::fixed_qparams}) {
        if (!(kinds & kind_bit(k))) continue;
        ++count;
        if (count > 1) names += count == total ? " and " : ", ";
        names += to_string(k);
    }
    return "the " + names + (total == 1 ? " observer" : " observers");
}

/// Describes a JSON value for "found ..." in a message: its type and, for
/// scalars, its text.
inline std::string describe_json_value(const io::json_value& value) {
    switch (value.type()) {
        case io::json_value::kind::string: return "the string " + io::quote_json_string(value.as_string());
        case io::json_value::kind::number: return "the number " + value.number_text();
        case io::json_value::kind::boolean: return value.as_bool() ? "true" : "false";
        case io::json_value::kind::null: return "null";
        case io::json_value::kind::array: return "an array";
        case io::json_value::kind::object: return "an object";
    }
    return "a value";
}

/// Reads one spec object; see read_quant_spec_json.
class quant_spec_reader {
public:
    quant_spec_reader(const io::json_value& object, const io::json_document& document, const std::string& path)
        : object_(object), document_(document), path_(path) {}

    quant_spec read() {
        if (!object_.is_object()) {
            fail(object_, path_, "expected a spec object such as {\"dtype\": \"int16\"}, found " + describe_json_value(object_));
        }
        if (object_.as_object().empty()) {
            fail(object_, path_, "the spec object is empty; give at least \"dtype\" or \"observer\"");
        }

        quant_spec spec;
        if (const io::json_value* value = object_.find("observer")) {
            spec.kind = parse_observer_kind(string_of(*value, "observer"));
            if (!spec.kind) fail_choice(*value, "observer", "observer", observer_kind_choices);
        }
        check_keys(spec.kind);

        read_affine(spec);
        if (spec.kind == observer_kind::ema) read_ema(spec);
        if (spec.kind == observer_kind::percentile) read_percentile(spec);
        if (spec.kind == observer_kind::mx) read_mx(spec);
        if (spec.kind == observer_kind::fixed_qparams) read_fixed(spec);
        return spec;
    }

private:
    /// Rejects unknown keys and keys of another observer kind than `kind`.
    void check_keys(std::optional<observer_kind> kind) const {
        const unsigned bit = kind ? kind_bit(*kind) : no_kind_bit;
        for (const auto& [name, value] : object_.as_object()) {
            const spec_key* key = find_spec_key(name);
            const std::string path = member_path(name);
            if (key == nullptr) {
                fail(value, path, "unknown key " + io::quote_json_string(name) + "; valid keys are " + spec_key_list());
            }
            if (key->kinds & bit) continue;
            const std::string owners = describe_kinds(key->kinds);
            if (!kind) {
                fail(value, path, name + " is a parameter of " + owners + "; add \"observer\": \"" +
                                      std::string(to_string(first_kind(key->kinds))) + "\" to this spec");
            }
            fail(value, path, name + " does not apply to the " + std::string(to_string(*kind)) + " observer chosen here; it belongs to " +
                                  owners + ", so remove it or change \"observer\"");
        }
    }

    void read_affine(quant_spec& spec) const {
        if (const io::json_value* value = object_.find("dtype")) {
            spec.type = parse_dtype(string_of(*value, "dtype"));
            if (!spec.type) fail_choice(*value, "dtype", "dtype", dtype_choices);
        }
        if (const io::json_value* value = object_.find("qscheme")) {
            spec.scheme = parse_qscheme(string_of(*value, "qscheme"));
            if (!spec.scheme) fail_choice(*value, "qscheme", "qscheme", qscheme_choices);
            if (spec.type && !is_valid_pairing(*spec.type, *spec.scheme)) {
                fail(*value, member_path("qscheme"),
                     "the unsigned dtype " + spec.type->name() + " cannot use the symmetric qscheme " +
                         std::string(to_string(*spec.scheme)) +
                         ", because a symmetric scheme fixes the zero point at 0 and wastes half of the levels; "
                         "use an asymmetric qscheme or a signed dtype");
            }
            if (is_per_channel(*spec.scheme) &&
                (spec.kind == observer_kind::percentile || spec.kind == observer_kind::fixed_qparams)) {
                fail(*value, member_path("qscheme"),
                     "the " + std::string(to_string(*spec.kind)) + " observer is per-tensor only, so the qscheme " +
                         std::string(to_string(*spec.scheme)) + " is invalid; use per_tensor_symm or per_tensor_asymm");
            }
        }
        if (const io::json_value* value = object_.find("channel_axis")) {
            spec.channel_axis = static_cast<int>(integer_of(*value, "channel_axis", std::numeric_limits<int>::min(),
                                                            std::numeric_limits<int>::max()));
        }
    }

    void read_ema(quant_spec& spec) const {
        if (const io::json_value* value = object_.find("momentum")) {
            const double momentum = number_of(*value, "momentum");
            if (!(momentum > 0.0 && momentum < 1.0)) {
                fail(*value, member_path("momentum"),
                     "momentum " + value->number_text() + " is out of range; use a value strictly between 0 and 1, such as 0.9");
            }
            spec.ema.momentum = momentum;
        }
        if (const io::json_value* value = object_.find("ema_form")) {
            const auto form = parse_ema_form(string_of(*value, "ema_form"));
            if (!form) fail_choice(*value, "ema_form", "ema_form", ema_form_choices);
            spec.ema.form = *form;
        }
    }

    void read_percentile(quant_spec& spec) const {
        percentile_options& options = spec.percentile;
        if (const io::json_value* value = object_.find("percentile")) {
            options.percentile = number_of(*value, "percentile");
            if (!(options.percentile > 0.0 && options.percentile <= 100.0)) {
                fail(*value, member_path("percentile"),
                     "percentile " + value->number_text() + " is out of range; use a value in (0, 100], such as 99.99");
            }
        }

        const io::json_value* lower = object_.find("lower_percentile");
        const io::json_value* upper = object_.find("upper_percentile");
        if ((lower == nullptr) != (upper == nullptr)) {
            const io::json_value& present = lower != nullptr ? *lower : *upper;
            fail(present, member_path(lower != nullptr ? "lower_percentile" : "upper_percentile"),
                 "lower_percentile and upper_percentile must be given together");
        }
        if (lower != nullptr) {
            const double lo = number_of(*lower, "lower_percentile");
            const double hi = number_of(*upper, "upper_percentile");
            if (!(lo >= 0.0 && lo < hi && hi <= 100.0)) {
                fail(*lower, member_path("lower_percentile"),
                     "lower_percentile " + lower->number_text() + " and upper_percentile " + upper->number_text() +
                         " must satisfy 0 <= lower < upper <= 100");
            }
            // A signed dtype without a qscheme resolves to a symmetric scheme,
            // which has no separate lower and upper bound.
            const bool symmetric = spec.scheme ? is_symmetric(*spec.scheme) : (spec.type && spec.type->is_signed);
            if (symmetric) {
                const std::string reason = spec.scheme ? "this spec sets " + std::string(to_string(*spec.scheme))
                                                       : "the signed dtype " + spec.type->name() + " defaults to per_tensor_symm";
                fail(*lower, member_path("lower_percentile"),
                     "lower_percentile and upper_percentile need an asymmetric qscheme, but " + reason +
                         "; add \"qscheme\": \"per_tensor_asymm\"");
            }
            options.lower_percentile = lo;
            options.upper_percentile = hi;
        }

        constexpr auto max_size = static_cast<std::int64_t>(std::numeric_limits<std::int64_t>::max());
        if (const io::json_value* value = object_.find("max_samples")) {
            options.max_samples = static_cast<std::size_t>(integer_of(*value, "max_samples", 1, max_size));
        }
        if (const io::json_value* value = object_.find("samples_per_batch")) {
            options.samples_per_batch = static_cast<std::size_t>(integer_of(*value, "samples_per_batch", 1, max_size));
        }
        if (const io::json_value* value = object_.find("seed")) {
            if (!value->is_number()) fail_type(*value, "seed", "an integer");
            const std::optional<std::uint64_t> seed = value->to_uint64();
            if (!seed) {
                fail(*value, member_path("seed"), "seed " + value->number_text() + " is invalid; use an integer from 0 to 2^64 - 1");
            }
            options.seed = *seed;
        }
    }

    void read_mx(quant_spec& spec) const {
        if (const io::json_value* value = object_.find("elem_format")) {
            const auto format = parse_mx_format(string_of(*value, "elem_format"));
            if (!format) fail_choice(*value, "elem_format", "MX element format", mx_format_choices);
            spec.mx_element = *format;
        }
        if (const io::json_value* value = object_.find("axis")) {
            spec.mx_axis = static_cast<int>(
                integer_of(*value, "axis", std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
        }
        // microxcaling offers more methods, but wrapq's MX kernel and the
        // Circle export implement only these two.
        if (const io::json_value* value = object_.find("shared_exp_method")) {
            if (string_of(*value, "shared_exp_method") != "max") {
                fail(*value, member_path("shared_exp_method"),
                     "shared_exp_method " + io::quote_json_string(value->as_string()) + " is not supported; wrapq implements only \"max\"");
            }
        }
        if (const io::json_value* value = object_.find("round")) {
            if (string_of(*value, "round") != "nearest") {
                fail(*value, member_path("round"),
                     "round " + io::quote_json_string(value->as_string()) + " is not supported; wrapq implements only \"nearest\"");
            }
        }
    }

    void read_fixed(quant_spec& spec) const {
        if (const io::json_value* value = object_.find("scale")) {
            const auto scale = static_cast<float>(number_of(*value, "scale"));
            if (!(std::isfinite(scale) && scale > 0.0f)) {
                fail(*value, member_path("scale"),
                     "scale " + value->number_text() + " is invalid; use a positive value that is finite in float32, such as 0.0078125");
            }
            spec.fixed_scale = scale;
        }
        if (const io::json_value* value = object_.find("zero_point")) {
            std::int64_t lo = std::numeric_limits<std::int32_t>::min();
            std::int64_t hi = std::numeric_limits<std::int32_t>::max();
            if (spec.type) {
                lo = spec.type->qmin();
                hi = spec.type->qmax();
            }
            spec.fixed_zero_point = static_cast<std::int32_t>(integer_of(*value, "zero_point", lo, hi));
            if (*spec.fixed_zero_point != 0 && spec.scheme && is_symmetric(*spec.scheme)) {
                fail(*value, member_path("zero_point"),
                     "zero_point " + value->number_text() + " is invalid with the symmetric qscheme " +
                         std::string(to_string(*spec.scheme)) + "; use 0 or per_tensor_asymm");
            }
        }
    }

    const std::string& string_of(const io::json_value& value, std::string_view key) const {
        if (!value.is_string()) fail_type(value, key, "a string");
        return value.as_string();
    }

    double number_of(const io::json_value& value, std::string_view key) const {
        if (!value.is_number()) fail_type(value, key, "a number");
        const std::optional<double> number = value.to_double();
        if (!number) fail(value, member_path(key), value.number_text() + " is outside the range of a double");
        return *number;
    }

    std::int64_t integer_of(const io::json_value& value, std::string_view key, std::int64_t lo, std::int64_t hi) const {
        if (!value.is_number() || !value.is_integer()) fail_type(value, key, "an integer");
        const std::optional<std::int64_t> number = value.to_int64();
        if (!number || *number < lo || *number > hi) {
            fail(value, member_path(key),
                 std::string(key) + " " + value.number_text() + " is out of range; use an integer from " + std::to_string(lo) +
                     " to " + std::to_string(hi));
        }
        return *number;
    }

    [[noreturn]] void fail_type(const io::json_value& value, std::string_view key, std::string_view expected) const {
        fail(value, member_path(key), "expected " + std::string(expected) + ", found " + describe_json_value(value));
    }

    [[noreturn]] void fail_choice(const io::json_value& value, std::string_view key, std::string_view what,
                                  std::string_view choices) const {
        fail(value, member_path(key),
             "unknown " + std::string(what) + " " + io::quote_json_string(value.as_string()) + "; use " + std::string(choices));
    }

    [[noreturn]] void fail(const io::json_value& value, const std::string& path, const std::string& problem) const {
        document_.fail(value, path, problem);
    }

    std::string member_path(std::string_view key) const { return io::json_member_path(path_, key); }

    static observer_kind first_kind(unsigned kinds) noexcept {
        for (const observer_kind k : {observer_kind::minmax, observer_kind::ema, observer_kind::percentile, observer_kind::mx,
                                      observer_kind::identity, observer_kind::fixed_qparams}) {
            if (kinds & kind_bit(k)) return k;
        }
        return observer_kind::minmax;
    }

    const io::json_value& object_;
    const io::json_document& document_;
    const std::string& path_;
};

}  // namespace detail

/// Reads a quant_spec from the JSON object `value` at the JSON path `path`
/// of `document`.
///
/// Keys, all optional, but the object must not be empty:
/// - "observer": minmax, ema, percentile, mx, identity or fixed_qparams.
///   Without it the kind comes from a lower-precedence source (see ptq_config).
/// - "dtype": "uint4", "int8", "int16", or any int2 to int16 or uint2 to uint16.
/// - "qscheme": per_tensor_symm, per_tensor_asymm, per_channel_symm or per_channel_asymm.
/// - "channel_axis": an integer, where a negative axis counts from the last one.
/// - ema: "momentum" (strictly between 0 and 1), "ema_form" (tico or pytorch).
/// - percentile: "percentile" in (0, 100], "lower_percentile" and
///   "upper_percentile" together with 0 <= lower < upper <= 100 and an
///   asymmetric qscheme, "max_samples" and "samples_per_batch" (at least 1),
///   "seed" (0 to 2^64 - 1).
/// - mx: "elem_format" (see parse_mx_format), "axis", and for TICO files
///   "shared_exp_method": "max" and "round": "nearest", the only values
///   wrapq implements.
/// - fixed_qparams: "scale" (positive, finite in float32) and "zero_point"
///   (within the spec's dtype when it has one).
///
/// A key of another kind than "observer" names is an error, because
/// ptq_config takes those parameters only from the spec that sets the kind
/// and would ignore them silently. mx and identity take no dtype, qscheme or
/// channel_axis, and percentile and fixed_qparams take no channel_axis or
/// per-channel qscheme. An unsigned dtype with a symmetric qscheme is an error.
///
/// Throws format_error "source:line: path: problem" that names the value and
/// lists the valid choices.
///
/// Example:
/// @code
///   const std::string text = R"({"observer": "ema", "dtype": "int8", "momentum": 0.95})";
///   const io::json_value object = io::parse_json(text);
///   const quant_spec spec = read_quant_spec_json(object, {"spec.json", text}, "activation");
///   // spec.kind == observer_kind::ema, spec.type == int8, spec.ema.momentum == 0.95
/// @endcode
inline quant_spec read_quant_spec_json(const io::json_value& value, const io::json_document& document, const std::string& path) {
    return detail::quant_spec_reader(value, document, path).read();
}

}  // namespace wrapq
