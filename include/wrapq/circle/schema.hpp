// wrapq/circle/schema.hpp: the part of the Circle 0.10 schema that wrapq writes
// and reads, with the official enum values, union indices and field ids.
//
// Circle is the TFLite 2.15 schema plus ops with negative builtin codes,
// tensor types with negative values and option tables at union indices
// 248..254. The file identifier is "CIR0". A FlatBuffers field with id `n`
// sits at vtable offset 4 + 2n; a union field takes two ids, the type byte first.
#pragma once

#include "wrapq/config.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace wrapq::circle {

inline constexpr char file_identifier[] = "CIR0";

/// Model.version that ONE's exporters write. TFLite would need 3 and "TFL3".
inline constexpr std::uint32_t schema_version = 0;

/// Vtable offset of the field with schema id `id`.
constexpr std::uint16_t field_offset(int id) noexcept { return static_cast<std::uint16_t>(4 + 2 * id); }

/// Field ids of the tables wrapq writes, in schema order.
namespace field {
namespace model { inline constexpr int version = 0, operator_codes = 1, subgraphs = 2, description = 3, buffers = 4,
                                        metadata = 6, signature_defs = 7; }
namespace subgraph { inline constexpr int tensors = 0, inputs = 1, outputs = 2, operators = 3, name = 4; }
namespace tensor { inline constexpr int shape = 0, type = 1, buffer = 2, name = 3, quantization = 4; }
namespace buffer { inline constexpr int data = 0, offset = 1, size = 2; }
namespace op { inline constexpr int opcode_index = 0, inputs = 1, outputs = 2, builtin_options_type = 3,
                                    builtin_options = 4; }
namespace operator_code { inline constexpr int deprecated_builtin_code = 0, custom_code = 1, version = 2,
                                               builtin_code = 3; }
namespace quantization { inline constexpr int min = 0, max = 1, scale = 2, zero_point = 3, quantized_dimension = 6; }
namespace signature_def { inline constexpr int inputs = 0, outputs = 1, signature_key = 2, subgraph_index = 4; }
namespace tensor_map { inline constexpr int name = 0, tensor_index = 1; }
namespace metadata { inline constexpr int name = 0, buffer = 1; }
}  // namespace field

/// Element type of a tensor (TensorType). UINT4 is Circle's own value -1,
/// not TFLite's 20.
enum class tensor_type : std::int8_t {
    float32 = 0,
    int32 = 2,
    uint8 = 3,
    int64 = 4,
    boolean = 6,
    int16 = 7,
    int8 = 9,
    uint4 = -1,
};

/// Bits one element of `type` takes in a buffer.
constexpr int element_bits(tensor_type type) noexcept {
    switch (type) {
        case tensor_type::uint4: return 4;
        case tensor_type::uint8:
        case tensor_type::int8:
        case tensor_type::boolean: return 8;
        case tensor_type::int16: return 16;
        case tensor_type::float32:
        case tensor_type::int32: return 32;
        case tensor_type::int64: return 64;
    }
    return 0;
}

/// Bytes a buffer of `count` elements of `type` takes; 4-bit types pack two
/// elements per byte and round up, so 5 uint4 values take 3 bytes.
constexpr std::uint64_t buffer_bytes(tensor_type type, std::uint64_t count) noexcept {
    return (count * static_cast<std::uint64_t>(element_bits(type)) + 7) / 8;
}

/// Schema name of `type`, for example "UINT4"; nullopt for a value outside tensor_type.
inline std::optional<std::string_view> type_name(tensor_type type) {
    switch (type) {
        case tensor_type::float32: return "FLOAT32";
        case tensor_type::int32: return "INT32";
        case tensor_type::uint8: return "UINT8";
        case tensor_type::int64: return "INT64";
        case tensor_type::boolean: return "BOOL";
        case tensor_type::int16: return "INT16";
        case tensor_type::int8: return "INT8";
        case tensor_type::uint4: return "UINT4";
    }
    return std::nullopt;
}

/// Operator code (BuiltinOperator, int32). Circle-only ops are negative.
/// AVERAGE_POOL_2D and SQUEEZE are listed only so that the runtime-constraint
/// checks can name them. ops.hpp has no function for them, and this file has
/// no option table for them.
enum class builtin_operator : std::int32_t {
    rope = -7,
    rms_norm = -6,
    add = 0,
    average_pool_2d = 1,
    concatenation = 2,
    dequantize = 6,
    fully_connected = 9,
    logistic = 14,
    mul = 18,
    reshape = 22,
    softmax = 25,
    tanh = 28,
    gather = 36,
    transpose = 39,
    mean = 40,
    sub = 41,
    div = 42,
    squeeze = 43,
    strided_slice = 45,
    maximum = 55,
    minimum = 57,
    neg = 59,
    slice = 65,
    expand_dims = 70,
    sqrt = 75,
    rsqrt = 76,
    pow = 78,
    quantize = 114,
    batch_matmul = 126,
    gelu = 150,
};

/// deprecated_builtin_code value that makes readers use builtin_code instead.
inline constexpr std::int32_t placeholder_for_greater_op_codes = 127;

/// deprecated_builtin_code of `code` by the rule of ONE's exporter: the code
/// itself below 127 (negative Circle codes included), else 127.
/// Example: rms_norm (-6) gives -6, gelu (150) gives 127.
constexpr std::int8_t deprecated_builtin_code(std::int32_t code) noexcept {
    return static_cast<std::int8_t>(code < placeholder_for_greater_op_codes ? code : placeholder_for_greater_op_codes);
}

/// Operator code a Circle reader uses: builtin_code when the deprecated field
/// is 127, else the deprecated field (ONE's mio-circle rule).
constexpr std::int32_t effective_builtin_code(std::int8_t deprecated, std::int32_t builtin) noexcept {
    return deprecated == placeholder_for_greater_op_codes ? builtin : deprecated;
}

/// Schema name of `code`, for example "FULLY_CONNECTED", or "BUILTIN_<n>" for a code outside builtin_operator.
inline std::string op_name(std::int32_t code) {
    switch (static_cast<builtin_operator>(code)) {
        case builtin_operator::rope: return "ROPE";
        case builtin_operator::rms_norm: return "RMS_NORM";
        case builtin_operator::add: return "ADD";
        case builtin_operator::average_pool_2d: return "AVERAGE_POOL_2D";
        case builtin_operator::concatenation: return "CONCATENATION";
        case builtin_operator::dequantize: return "DEQUANTIZE";
        case builtin_operator::fully_connected: return "FULLY_CONNECTED";
        case builtin_operator::logistic: return "LOGISTIC";
        case builtin_operator::mul: return "MUL";
        case builtin_operator::reshape: return "RESHAPE";
        case builtin_operator::softmax: return "SOFTMAX";
        case builtin_operator::tanh: return "TANH";
        case builtin_operator::gather: return "GATHER";
        case builtin_operator::transpose: return "TRANSPOSE";
        case builtin_operator::mean: return "MEAN";
        case builtin_operator::sub: return "SUB";
        case builtin_operator::div: return "DIV";
        case builtin_operator::squeeze: return "SQUEEZE";
        case builtin_operator::strided_slice: return "STRIDED_SLICE";
        case builtin_operator::maximum: return "MAXIMUM";
        case builtin_operator::minimum: return "MINIMUM";
        case builtin_operator::neg: return "NEG";
        case builtin_operator::slice: return "SLICE";
        case builtin_operator::expand_dims: return "EXPAND_DIMS";
        case builtin_operator::sqrt: return "SQRT";
        case builtin_operator::rsqrt: return "RSQRT";
        case builtin_operator::pow: return "POW";
        case builtin_operator::quantize: return "QUANTIZE";
        case builtin_operator::batch_matmul: return "BATCH_MATMUL";
        case builtin_operator::gelu: return "GELU";
    }
    return "BUILTIN_" + std::to_string(code);
}

inline std::string op_name(builtin_operator code) { return op_name(static_cast<std::int32_t>(code)); }

/// Storage of one option field.
enum class field_kind : std::uint8_t { boolean, int8, int32, float32, int32_vector };

/// One field of a builtin option table: its schema name and id, how it is
/// stored, and its schema default (scalars only), which the writer omits.
struct option_field {
    std::string_view name;
    int id;
    field_kind kind;
    double default_value = 0.0;
};

/// A builtin option table: its schema name, its index in the BuiltinOptions
/// union and its fields in schema order.
struct options_table {
    std::string_view name;
    std::uint8_t union_type;
    std::span<const option_field> fields;
};

namespace detail {
inline constexpr std::array<option_field, 5> fully_connected_fields{{
    {"fused_activation_function", 0, field_kind::int8},
    {"weights_format", 1, field_kind::int8},
    {"keep_num_dims", 2, field_kind::boolean},
    {"asymmetric_quantize_inputs", 3, field_kind::boolean},
    {"quantized_bias_type", 4, field_kind::int8},
}};
inline constexpr std::array<option_field, 1> softmax_fields{{{"beta", 0, field_kind::float32}}};
inline constexpr std::array<option_field, 2> concatenation_fields{{
    {"axis", 0, field_kind::int32},
    {"fused_activation_function", 1, field_kind::int8},
}};
inline constexpr std::array<option_field, 2> add_sub_fields{{
    {"fused_activation_function", 0, field_kind::int8},
    {"pot_scale_int16", 1, field_kind::boolean, 1.0},
}};
inline constexpr std::array<option_field, 1> activation_fields{{{"fused_activation_function", 0, field_kind::int8}}};
inline constexpr std::array<option_field, 1> reshape_fields{{{"new_shape", 0, field_kind::int32_vector}}};
inline constexpr std::array<option_field, 2> gather_fields{{
    {"axis", 0, field_kind::int32},
    {"batch_dims", 1, field_kind::int32},
}};
inline constexpr std::array<option_field, 3> batch_matmul_fields{{
    {"adjoint_lhs", 0, field_kind::boolean},
    {"adjoint_rhs", 1, field_kind::boolean},
    {"asymmetric_quantize_inputs", 2, field_kind::boolean},
}};
inline constexpr std::array<option_field, 1> gelu_fields{{{"approximate", 0, field_kind::boolean}}};
inline constexpr std::array<option_field, 1> rms_norm_fields{{{"epsilon", 0, field_kind::float32}}};
inline constexpr std::array<option_field, 1> reducer_fields{{{"keep_dims", 0, field_kind::boolean}}};
inline constexpr std::array<option_field, 6> strided_slice_fields{{
    {"begin_mask", 0, field_kind::int32},
    {"end_mask", 1, field_kind::int32},
    {"ellipsis_mask", 2, field_kind::int32},
    {"new_axis_mask", 3, field_kind::int32},
    {"shrink_axis_mask", 4, field_kind::int32},
    {"offset", 5, field_kind::boolean},
}};
}  // namespace detail

/// The option tables that wrapq writes and reads. An empty field list is a table with no
/// fields (TransposeOptions), which is still written as an empty table. MEAN
/// and the other reductions share ReducerOptions.
namespace options {
inline constexpr options_table fully_connected{"FullyConnectedOptions", 8, detail::fully_connected_fields};
inline constexpr options_table softmax{"SoftmaxOptions", 9, detail::softmax_fields};
inline constexpr options_table concatenation{"ConcatenationOptions", 10, detail::concatenation_fields};
inline constexpr options_table add{"AddOptions", 11, detail::add_sub_fields};
inline constexpr options_table reshape{"ReshapeOptions", 17, detail::reshape_fields};
inline constexpr options_table mul{"MulOptions", 21, detail::activation_fields};
inline constexpr options_table gather{"GatherOptions", 23, detail::gather_fields};
inline constexpr options_table transpose{"TransposeOptions", 26, {}};
inline constexpr options_table reducer{"ReducerOptions", 27, detail::reducer_fields};
inline constexpr options_table sub{"SubOptions", 28, detail::add_sub_fields};
inline constexpr options_table div{"DivOptions", 29, detail::activation_fields};
inline constexpr options_table strided_slice{"StridedSliceOptions", 32, detail::strided_slice_fields};
inline constexpr options_table dequantize{"DequantizeOptions", 38, {}};
inline constexpr options_table maximum_minimum{"MaximumMinimumOptions", 39, {}};
inline constexpr options_table neg{"NegOptions", 42, {}};
inline constexpr options_table slice{"SliceOptions", 48, {}};
inline constexpr options_table expand_dims{"ExpandDimsOptions", 52, {}};
inline constexpr options_table pow{"PowOptions", 56, {}};
inline constexpr options_table quantize{"QuantizeOptions", 89, {}};
inline constexpr options_table batch_matmul{"BatchMatMulOptions", 101, detail::batch_matmul_fields};
inline constexpr options_table gelu{"GeluOptions", 116, detail::gelu_fields};
inline constexpr options_table rms_norm{"RmsNormOptions", 250, detail::rms_norm_fields};

inline constexpr std::array<const options_table*, 22> all{
    &fully_connected, &softmax, &concatenation, &add, &reshape, &mul, &gather, &transpose, &reducer, &sub, &div,
    &strided_slice, &dequantize, &maximum_minimum, &neg, &slice, &expand_dims, &pow, &quantize, &batch_matmul, &gelu, &rms_norm};
}  // namespace options

/// Finds the option table at BuiltinOptions index `union_type`; returns nullptr for a table wrapq does not define.
inline const options_table* find_options_table(std::uint8_t union_type) noexcept {
    for (const options_table* table : options::all) {
        if (table->union_type == union_type) return table;
    }
    return nullptr;
}

/// ActivationFunctionType values.
enum class activation : std::int8_t { none = 0, relu = 1, relu_n1_to_1 = 2, relu6 = 3, tanh = 4, sign_bit = 5 };

}  // namespace wrapq::circle
