// wrapq/module/report.hpp: a per-observer report of a model, as a table or JSON.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/module/visitor.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

namespace wrapq {

/// The state of one observer after calibration or conversion.
struct observer_record {
    std::string name;
    std::string kind;
    std::string mode;
    std::string dtype;                  ///< Empty for identity; the MX format name for MX.
    std::string scheme;                 ///< Empty when not affine.
    std::optional<int> channel_axis;    ///< Set for per-channel qparams.
    std::vector<float> min_val;         ///< Observed minima, one per channel.
    std::vector<float> max_val;
    std::vector<float> scale;           ///< Cached scale(s); empty before compute_qparams().
    std::vector<std::int32_t> zero_point;
    std::size_t observed = 0;           ///< Finite values observed.
    std::size_t nonfinite = 0;          ///< NaN and infinite values skipped.
};

namespace detail {

template <class O>
observer_record record_of(const std::string& name, const O& observer) {
    observer_record r;
    r.name = name;
    r.mode = std::string(to_string(observer.mode));
    if constexpr (std::is_same_v<O, any_observer>) {
        const observer_spec& s = observer.spec();
        r.kind = std::string(to_string(s.kind));
        if (s.kind == observer_kind::mx) {
            r.dtype = std::string(to_string(s.mx_element));
        } else if (s.kind != observer_kind::identity) {
            r.dtype = s.type.name();
            r.scheme = std::string(to_string(s.scheme));
        }
        r.min_val = observer.min_val();
        r.max_val = observer.max_val();
        if (const qparams* p = observer.affine_qparams()) {
            r.scale = p->scale;
            r.zero_point = p->zero_point;
            r.channel_axis = p->axis;
        }
    } else {
        r.kind = std::string(O::kind);
        if constexpr (requires { observer.quant_dtype(); observer.scheme(); }) {
            r.dtype = observer.quant_dtype().name();
            r.scheme = std::string(to_string(observer.scheme()));
        }
        if constexpr (requires { observer.min_val(); }) {
            r.min_val.assign(observer.min_val().begin(), observer.min_val().end());
            r.max_val.assign(observer.max_val().begin(), observer.max_val().end());
        }
        if constexpr (requires { observer.cached_qparams(); }) {
            if (const auto& p = observer.cached_qparams(); p) {
                r.scale = p->scale;
                r.zero_point = p->zero_point;
                r.channel_axis = p->axis;
            }
        }
    }
    if constexpr (requires { observer.observed_count(); }) r.observed = observer.observed_count();
    if constexpr (requires { observer.nonfinite_count(); }) r.nonfinite = observer.nonfinite_count();
    return r;
}

inline std::string format_float(float v) {
    if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.9g", static_cast<double>(v));
    return buffer;
}

inline std::string json_float(float v) { return std::isfinite(v) ? format_float(v) : "null"; }

inline std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buffer[8];
            std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
            out += buffer;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

template <class T, class F>
std::string json_array(const std::vector<T>& values, F&& format) {
    std::string out = "[";
    for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + format(values[i]);
    return out + "]";
}

}  // namespace detail

/// Collects one record per observer, in visitor order.
template <Module M>
std::vector<observer_record> collect_report(M& model) {
    std::vector<observer_record> records;
    for_each_observer(model, [&](const std::string& name, const auto& observer) {
        records.push_back(detail::record_of(name, observer));
    });
    return records;
}

/// Writes an aligned table, one observer per line. Per-channel rows show the
/// overall min and max, the channel count and the scale range.
///
/// Example output:
/// @code
///   name          kind    dtype  scheme           mode       min      max      scale        zp
///   proj.act_in   minmax  int16  per_tensor_symm  quantized  -3.5     4        0.00012207   0
/// @endcode
inline void write_report_table(std::ostream& os, const std::vector<observer_record>& records) {
    std::size_t width = 4;
    for (const auto& r : records) width = std::max(width, r.name.size());
    char line[512];
    std::snprintf(line, sizeof line, "%-*s  %-13s %-8s %-17s %-11s %12s %12s %-27s %s\n", static_cast<int>(width), "name",
                  "kind", "dtype", "scheme", "mode", "min", "max", "scale", "zero point");
    os << line;
    for (const auto& r : records) {
        const float lo = r.min_val.empty() ? NAN : *std::min_element(r.min_val.begin(), r.min_val.end());
        const float hi = r.max_val.empty() ? NAN : *std::max_element(r.max_val.begin(), r.max_val.end());
        std::string scale = "-", zero_point = "-";
        if (r.scale.size() == 1) {
            scale = detail::format_float(r.scale[0]);
            zero_point = std::to_string(r.zero_point[0]);
        } else if (!r.scale.empty()) {
            const auto [smin, smax] = std::minmax_element(r.scale.begin(), r.scale.end());
            scale = std::to_string(r.scale.size()) + " ch: " + detail::format_float(*smin) + ".." + detail::format_float(*smax);
            const auto [zmin, zmax] = std::minmax_element(r.zero_point.begin(), r.zero_point.end());
            zero_point = std::to_string(*zmin) + ".." + std::to_string(*zmax);
        }
        std::snprintf(line, sizeof line, "%-*s  %-13s %-8s %-17s %-11s %12s %12s %-27s %s\n", static_cast<int>(width),
                      r.name.c_str(), r.kind.c_str(), r.dtype.empty() ? "-" : r.dtype.c_str(),
                      r.scheme.empty() ? "-" : r.scheme.c_str(), r.mode.c_str(),
                      r.min_val.empty() ? "-" : detail::format_float(lo).c_str(),
                      r.max_val.empty() ? "-" : detail::format_float(hi).c_str(), scale.c_str(), zero_point.c_str());
        os << line;
    }
}

/// Writes the records as a JSON array with every per-channel value. Floats
/// use 9 significant digits, enough to read back the same float32;
/// non-finite values become null.
inline void write_report_json(std::ostream& os, const std::vector<observer_record>& records) {
    os << "[\n";
    for (std::size_t i = 0; i < records.size(); ++i) {
        const observer_record& r = records[i];
        os << "  {\"name\": " << detail::json_string(r.name) << ", \"kind\": " << detail::json_string(r.kind)
           << ", \"mode\": " << detail::json_string(r.mode) << ", \"dtype\": "
           << (r.dtype.empty() ? "null" : detail::json_string(r.dtype))
           << ", \"qscheme\": " << (r.scheme.empty() ? "null" : detail::json_string(r.scheme))
           << ", \"channel_axis\": " << (r.channel_axis ? std::to_string(*r.channel_axis) : "null")
           << ", \"min\": " << detail::json_array(r.min_val, detail::json_float)
           << ", \"max\": " << detail::json_array(r.max_val, detail::json_float)
           << ", \"scale\": " << detail::json_array(r.scale, detail::json_float)
           << ", \"zero_point\": " << detail::json_array(r.zero_point, [](std::int32_t z) { return std::to_string(z); })
           << ", \"observed\": " << r.observed << ", \"nonfinite\": " << r.nonfinite << "}"
           << (i + 1 < records.size() ? ",\n" : "\n");
    }
    os << "]\n";
}

}  // namespace wrapq
