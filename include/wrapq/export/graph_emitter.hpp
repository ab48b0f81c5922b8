// wrapq/export/graph_emitter.hpp: turning a module's quantization sites into a Circle graph.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/errors.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/circle/ops.hpp"
#include "wrapq/circle/quantized_constant.hpp"
#include "wrapq/core/quantize.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/module/weight_matrix.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace wrapq::exporter {

/// A tensor of the graph being emitted: its index in the subgraph and its shape.
/// The default value stands for an absent optional operator input (index -1).
struct value {
    std::int32_t index = -1;
    std::vector<std::int32_t> shape;
};

/// Storage type and Circle qparams that one observer gives a tensor.
struct site_qparams {
    circle::tensor_type type;
    circle::quantization quant;
};

/// Returns the qparams observer `o` assigns, or nullopt when the observer
/// keeps its tensor in float on purpose (an identity observer).
///
/// Throws graph_error naming the observer when it cannot be exported: it is
/// not in quantized mode (convert() was not run, or it was skipped as
/// uncalibrated), it is an MX observer, or its dtype has no Circle type.
inline std::optional<site_qparams> qparams_of(const any_observer& o) {
    if (o.name.empty()) {
        throw circle::graph_error("export: an observer has no name, so the model was never prepared; run "
                                  "wrapq::prepare(), calibrate and run wrapq::convert() before exporting");
    }
    if (o.mode != ptq_mode::quantized) {
        throw circle::graph_error("export: observer " + o.name + " is in " + std::string(to_string(o.mode)) +
                                  " mode; calibrate the model and run wrapq::convert() before exporting (an "
                                  "observer that convert() skipped as uncalibrated cannot be exported)");
    }
    if (o.spec().kind == observer_kind::identity) return std::nullopt;
    if (o.spec().kind == observer_kind::mx) {
        // TODO: MXINT8 / MXFP4 tensors with MXQuantization details (Circle 0.9).
        throw circle::graph_error("export: observer " + o.name + " is an MX observer; MX tensors cannot be exported "
                                  "yet, override it with an affine dtype (uint8, int16)");
    }
    const qparams* p = o.affine_qparams();
    if (p == nullptr) {
        throw circle::graph_error("export: observer " + o.name + " has no qparams; run wrapq::convert() before exporting");
    }
    if (p->type == int16) {
        for (std::int32_t zp : p->zero_point) {
            if (zp != 0) {
                throw circle::graph_error("export: observer " + o.name + " has int16 zero point " + std::to_string(zp) +
                                          ", but int16 Circle tensors need zero point 0; override it with a symmetric "
                                          "scheme (per_tensor_symm or per_channel_symm) or an unsigned dtype");
            }
        }
    }
    return site_qparams{circle::tensor_type_for(p->type), circle::quantization_for(*p)};
}

/// Choices about which operators a graph uses.
struct emit_options {
    /// Quantize weights while the file is written instead of now, so no
    /// integer copy of them is held in memory. The module must then stay
    /// alive and unchanged until the model is written.
    bool stream_weights = false;

    /// Write RMSNorm as DEQUANTIZE, MUL, MEAN, ADD, RSQRT, MUL, MUL in float
    /// and QUANTIZE, instead of the Circle-only RMS_NORM operator, for
    /// runtimes without it (TFLite, Arm NN). The float intermediates carry no
    /// qparams on purpose, because the reference has no observers there.
    bool decompose_rms_norm = false;
};

/// Builds one subgraph from quantization sites, the way TICO's converter
/// folds fake quantization into tensors:
///
/// - an operator output starts without qparams; the first site applied to it
///   gives it the site's qparams and storage type;
/// - a site on a tensor that already has other qparams adds a QUANTIZE
///   (requantize) operator, so every tensor keeps exactly one set of qparams;
/// - data-movement operators (move()) give their output the qparams of
///   their input. A site on an output whose input had none yet gives both
///   the same qparams. So RESHAPE, TRANSPOSE, slices and GATHER never change
///   the grid, which TFLite-compatible kernels require because they copy bytes.
///
/// Example, y = tanh(x) with observers `in` and `out` after convert():
/// @code
///   circle::model_builder b;
///   exporter::graph_emitter e(b);
///   value x = e.site(e.input("x", {1, 4}), in);
///   value y = e.site(e.compute(circle::ops::tanh(), {x}, "y", {1, 4}), out);
///   e.output(y);
///   e.finish("serving_default");
/// @endcode
class graph_emitter {
public:
    explicit graph_emitter(circle::model_builder& builder, emit_options options = {})
        : builder_(builder), options_(options) {}

    const emit_options& options() const noexcept { return options_; }

    /// Adds a float32 operator output kept in float on purpose, such as an
    /// intermediate of a decomposed operator.
    value compute_float(const circle::op& kind, const std::vector<value>& inputs, std::string name,
                        std::vector<std::int32_t> shape) {
        value out = compute(kind, inputs, std::move(name), std::move(shape));
        builder_.tensor_at(out.index).keep_float = true;
        return out;
    }

    /// Adds a float32 graph input; the first site applied to it gives it qparams.
    value input(std::string name, std::vector<std::int32_t> shape) {
        value v = add({std::move(name), shape, circle::tensor_type::float32, 0, std::nullopt, false});
        inputs_.push_back(v.index);
        return v;
    }

    /// Adds an int32 graph input that is never quantized, such as token ids.
    value index_input(std::string name, std::vector<std::int32_t> shape) {
        value v = add({std::move(name), shape, circle::tensor_type::int32, 0, std::nullopt, true});
        inputs_.push_back(v.index);
        return v;
    }

    /// Marks `v` as the next graph output, named `name` in the signature
    /// (the tensor's own name when empty).
    void output(const value& v, std::string name = {}) {
        outputs_.push_back(v.index);
        output_names_.push_back(name.empty() ? builder_.tensor_at(v.index).name : std::move(name));
    }

    /// Adds operator `kind` on `inputs` with one new output `name` of `shape`,
    /// still without qparams: the site that follows gives them.
    value compute(const circle::op& kind, const std::vector<value>& inputs, std::string name,
                  std::vector<std::int32_t> shape) {
        value out = add({std::move(name), std::move(shape), circle::tensor_type::float32, 0, std::nullopt, false});
        builder_.add_operator(kind, indices(inputs), {out.index});
        return out;
    }

    /// Adds a data-movement operator (RESHAPE, TRANSPOSE, SLICE, STRIDED_SLICE,
    /// GATHER, EXPAND_DIMS) that reads `data` and the index tensors `extra`.
    /// Post: the output has data's type and qparams, or none yet when data has
    /// none, in which case a later site sets both.
    value move(const circle::op& kind, const value& data, const std::vector<value>& extra, std::string name,
               std::vector<std::int32_t> shape) {
        // Read before add(), which may grow the tensor list and so move the source tensor.
        const circle::tensor& source = builder_.tensor_at(data.index);
        const bool unquantized = !source.quant && !source.keep_float;
        value out = add({std::move(name), std::move(shape), source.type, 0, source.quant, source.keep_float});
        if (unquantized) alias_of_[static_cast<std::size_t>(out.index)] = data.index;
        std::vector<value> inputs{data};
        inputs.insert(inputs.end(), extra.begin(), extra.end());
        builder_.add_operator(kind, indices(inputs), {out.index});
        return out;
    }

    /// Adds a GATHER of `ids` rows from `table` along `axis`: a data-movement
    /// operator whose data is input 0, so its output keeps the table's qparams.
    value gather(const value& table, const value& ids, std::int32_t axis, std::string name,
                 std::vector<std::int32_t> shape) {
        return move(circle::ops::gather(axis), table, {ids}, std::move(name), std::move(shape));
    }

    /// Applies quantization site `o` to `v` and returns the tensor that
    /// carries the site's qparams: v itself when it had none or the same
    /// ones, else the output of a new QUANTIZE operator named after `o`.
    value site(const value& v, const any_observer& o) {
        const std::optional<site_qparams> wanted = qparams_of(o);
        circle::tensor& t = builder_.tensor_at(v.index);
        if (!wanted) {
            if (!t.quant) t.keep_float = true;  // the config requests float here, so the tensor is not missing qparams
            return v;
        }
        return quantize_to(v, *wanted, o.name);
    }

    /// Returns a tensor with qparams `q`: `v` itself when it has none yet
    /// (they are assigned) or the same ones, else a QUANTIZE output named `name`.
    value quantize_to(const value& v, const site_qparams& q, const std::string& name) {
        circle::tensor& t = builder_.tensor_at(v.index);
        if (!t.quant && !t.keep_float) {
            assign(v.index, q);
            return v;
        }
        if (t.quant && *t.quant == q.quant && t.type == q.type) return v;
        // A site applied to several tensors (the two RoPE halves of a vision
        // head) requantizes each; later ones get a numbered name.
        const std::size_t uses = requantized_[name]++;
        value out = add({uses == 0 ? name : name + "/" + std::to_string(uses), v.shape, q.type, 0, q.quant, false});
        builder_.add_operator(circle::ops::quantize(), {v.index}, {out.index});
        return out;
    }

    /// Concatenates `parts` along `axis` under site `o`. Each part is first
    /// requantized to the site's qparams, so that input and output grids
    /// match as int8/int16 CONCATENATION kernels require.
    value concatenate(const std::vector<value>& parts, std::int32_t axis, const any_observer& o, std::string name,
                      std::vector<std::int32_t> shape) {
        const std::optional<site_qparams> wanted = qparams_of(o);
        std::vector<value> inputs;
        for (std::size_t i = 0; i < parts.size(); ++i) {
            inputs.push_back(wanted ? quantize_to(parts[i], *wanted, name + "/in" + std::to_string(i)) : parts[i]);
        }
        value out = compute(circle::ops::concatenation(axis), inputs, std::move(name), std::move(shape));
        return site(out, o);
    }

    /// Adds a constant weight quantized with observer `o` (per-channel or
    /// per-tensor), or stored as float32 when `o` keeps it in float.
    /// With emit_options::stream_weights, `w` must stay alive and unchanged
    /// until the model is written.
    value weight(std::string name, const tensor& w, const any_observer& o) {
        std::vector<std::int32_t> shape = shape_of(w);
        const std::optional<site_qparams> wanted = qparams_of(o);
        if (!wanted) return float_constant(std::move(name), w);
        if (!options_.stream_weights) {
            return track(circle::add_quantized_constant(builder_, std::move(name), wrapq::quantize(w, *o.affine_qparams())),
                         std::move(shape));
        }
        // The integer bytes are produced while the file is written, so no
        // quantized copy of the weight stays in memory.
        const std::int32_t index = circle::add_quantized_weight(builder_, std::move(name), w, *o.affine_qparams());
        return track(index, std::move(shape));
    }

    /// Adds a weight_matrix as weight() does. A borrowed bf16 weight is always
    /// streamed: quantized from its bf16 words while the file is written,
    /// because a copy of a table such as Gemma 4's per-layer embedding would
    /// need gigabytes. The builder keeps the checkpoint mapping alive until then.
    /// Throws invalid_argument naming the weight when it has no values.
    template <std::size_t R, std::size_t C>
    value weight(std::string name, const weight_matrix<R, C>& w, const any_observer& o) {
        w.require_loaded(name);
        if (!w.is_borrowed()) return weight(std::move(name), w.value, o);
        const std::optional<site_qparams> wanted = qparams_of(o);
        if (!wanted) return float_constant(std::move(name), w.to_float());
        const std::int32_t index = circle::add_quantized_weight(builder_, std::move(name), w.bf16.data, {R, C},
                                                                *o.affine_qparams(), w.bf16.owner, w.bf16.release_pages);
        return track(index, {static_cast<std::int32_t>(R), static_cast<std::int32_t>(C)});
    }

    /// Adds a float32 constant kept in float on purpose.
    value float_constant(std::string name, const tensor& values) {
        std::vector<std::uint8_t> bytes(values.size() * sizeof(float));
        if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());  // x86 and Arm are little-endian
        const std::int32_t index =
            builder_.add_constant(std::move(name), shape_of(values), circle::tensor_type::float32, std::move(bytes));
        builder_.tensor_at(index).keep_float = true;
        return track(index, shape_of(values));
    }

    /// Adds a one-element constant `x` stored exactly in the storage type of
    /// `like`: level 1 (or -1, or 0 with zero point 1 for unsigned types)
    /// with scale |x|, so it dequantizes to x without rounding. Used for
    /// operands without an observer of their own, such as the softcap value.
    /// A float `like` gives a float constant.
    ///
    /// Example: exact_scalar("cap", 30.0f, logits) on an int16 tensor stores
    /// level 1 with scale 30 and zero point 0.
    value exact_scalar(std::string name, float x, const value& like) {
        const circle::tensor& reference = builder_.tensor_at(like.index);
        if (!reference.quant) return float_constant(std::move(name), tensor{x});
        if (!std::isfinite(x)) {
            throw circle::graph_error("export: constant " + name + " = " + to_text(x) + " is not finite");
        }
        const bool is_unsigned = reference.type == circle::tensor_type::uint8;
        const float scale = x == 0.0f ? 1.0f : std::fabs(x);
        const std::int64_t zero_point = (x < 0.0f && is_unsigned) ? 1 : 0;
        const std::int32_t level = x == 0.0f ? 0 : (x > 0.0f ? 1 : (is_unsigned ? 0 : -1));

        std::vector<std::uint8_t> bytes;
        const auto bits = static_cast<std::uint32_t>(level);
        const std::size_t width = reference.type == circle::tensor_type::int16 ? 2 : 1;
        for (std::size_t b = 0; b < width; ++b) bytes.push_back(static_cast<std::uint8_t>(bits >> (8 * b)));
        const std::int32_t index = builder_.add_constant(std::move(name), {1}, reference.type, std::move(bytes),
                                                         circle::quantization{{scale}, {zero_point}, 0});
        return track(index, {1});
    }

    /// Adds a one-element constant `x` on the grid of `like`: the same type and
    /// qparams, with x rounded to the nearest level and saturated to the
    /// type's range. Used where an integer kernel compares levels directly,
    /// such as the bounds of MINIMUM and MAXIMUM. A float `like` gives a float constant.
    ///
    /// Example: on int16 with scale 0.01, x = 2.504 is stored as level 250.
    value constant_on_grid(std::string name, float x, const value& like) {
        const circle::tensor& reference = builder_.tensor_at(like.index);
        if (!reference.quant) return float_constant(std::move(name), tensor{x});
        if (!std::isfinite(x)) {
            throw circle::graph_error("export: constant " + name + " = " + to_text(x) + " is not finite");
        }
        const circle::quantization q = *reference.quant;
        const dtype type = reference.type == circle::tensor_type::int16 ? int16 : uint8;
        const qparams grid = qparams::per_tensor(q.scale.at(0), static_cast<std::int32_t>(q.zero_point.at(0)), type);
        const std::int32_t index = circle::add_quantized_constant(builder_, std::move(name), wrapq::quantize(tensor{x}, grid));
        return track(index, {1});
    }

    /// Adds a constant `values` quantized with observer `o`, such as the layer
    /// scalar or the attention scale, whose observers the reference applies
    /// to constants.
    /// Unlike weight(), it copies the quantized bytes at once, so `values`
    /// may be a temporary.
    value observed_constant(std::string name, const tensor& values, const any_observer& o) {
        const std::optional<site_qparams> wanted = qparams_of(o);
        if (!wanted) return float_constant(std::move(name), values);
        const std::int32_t index =
            circle::add_quantized_constant(builder_, std::move(name), wrapq::quantize(values, *o.affine_qparams()));
        return track(index, shape_of(values));
    }

    /// Adds an int32 constant such as a shape, a permutation or slice bounds.
    value int32_constant(std::string name, const std::vector<std::int32_t>& values) {
        return track(builder_.add_int32_constant(std::move(name), values),
                     {static_cast<std::int32_t>(values.size())});
    }

    /// Adds a RESHAPE of `v` to `shape`, with the shape also passed as an int32 input.
    value reshape(const value& v, std::vector<std::int32_t> shape, std::string name) {
        const value target = int32_constant(name + "/shape", shape);
        return move(circle::ops::reshape(shape), v, {target}, std::move(name), shape);
    }

    /// Adds a TRANSPOSE of `v` by `perm`.
    value transpose(const value& v, const std::vector<std::int32_t>& perm, std::string name) {
        std::vector<std::int32_t> shape;
        for (std::int32_t axis : perm) shape.push_back(v.shape.at(static_cast<std::size_t>(axis)));
        const value p = int32_constant(name + "/perm", perm);
        return move(circle::ops::transpose(), v, {p}, std::move(name), std::move(shape));
    }

    /// Adds a STRIDED_SLICE of `v` from `begin` (inclusive) to `end` (exclusive), stride 1.
    value slice(const value& v, const std::vector<std::int32_t>& begin, const std::vector<std::int32_t>& end,
                std::string name) {
        std::vector<std::int32_t> shape;
        for (std::size_t a = 0; a < begin.size(); ++a) shape.push_back(end[a] - begin[a]);
        const value b = int32_constant(name + "/begin", begin);
        const value e = int32_constant(name + "/end", end);
        const value s = int32_constant(name + "/strides", std::vector<std::int32_t>(begin.size(), 1));
        return move(circle::ops::strided_slice(), v, {b, e, s}, std::move(name), std::move(shape));
    }

    /// Sets the subgraph's inputs and outputs in the order they were
    /// declared and adds the entry point `signature_key`.
    void finish(std::string signature_key) {
        builder_.set_inputs(inputs_);
        builder_.set_outputs(outputs_);
        circle::signature_def def{std::move(signature_key), 0, {}, {}};
        for (std::int32_t index : inputs_) {
            def.inputs.push_back({builder_.tensor_at(index).name, static_cast<std::uint32_t>(index)});
        }
        for (std::size_t i = 0; i < outputs_.size(); ++i) {
            def.outputs.push_back({output_names_[i], static_cast<std::uint32_t>(outputs_[i])});
        }
        builder_.add_signature(std::move(def));
    }

    circle::model_builder& builder() noexcept { return builder_; }
    const circle::tensor& tensor_of(const value& v) { return builder_.tensor_at(v.index); }
    const std::vector<std::int32_t>& input_indices() const noexcept { return inputs_; }
    const std::vector<std::int32_t>& output_indices() const noexcept { return outputs_; }

    /// Registers tensor `index`, added to the builder directly, as a value.
    value adopt(std::int32_t index, std::vector<std::int32_t> shape) { return track(index, std::move(shape)); }

    static std::vector<std::int32_t> shape_of(const tensor& t) {
        return std::vector<std::int32_t>(t.shape().begin(), t.shape().end());
    }

private:
    value add(circle::tensor t) {
        std::vector<std::int32_t> shape = t.shape;
        return track(builder_.add_tensor(std::move(t)), std::move(shape));
    }

    value track(std::int32_t index, std::vector<std::int32_t> shape) {
        if (alias_of_.size() <= static_cast<std::size_t>(index)) alias_of_.resize(static_cast<std::size_t>(index) + 1, -1);
        return {index, std::move(shape)};
    }

    /// Gives tensor `index` the qparams `q`, and the same to the chain of
    /// data-movement inputs it was copied from that have none yet.
    void assign(std::int32_t index, const site_qparams& q) {
        for (std::int32_t at = index; at >= 0; at = alias_of_[static_cast<std::size_t>(at)]) {
            circle::tensor& t = builder_.tensor_at(at);
            if (t.quant || t.keep_float) break;
            t.quant = q.quant;
            t.type = q.type;
        }
    }

    static std::vector<std::int32_t> indices(const std::vector<value>& values) {
        std::vector<std::int32_t> out;
        for (const value& v : values) out.push_back(v.index);
        return out;
    }

    circle::model_builder& builder_;
    emit_options options_;
    std::vector<std::int32_t> inputs_;
    std::vector<std::int32_t> outputs_;
    std::vector<std::string> output_names_;
    std::vector<std::int32_t> alias_of_;
    std::map<std::string, std::size_t> requantized_;  ///< QUANTIZE outputs named so far, per name.
};

}  // namespace wrapq::exporter
