// wrapq/module/weight_matrix.hpp: a (Rows, Cols) weight that is float32 or borrowed bf16 checkpoint memory.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/kernels/bf16_word.hpp"
#include "wrapq/kernels/matrix_ref.hpp"
#include "wrapq/module/parameter.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace wrapq {

/// bf16 words of one weight inside memory that someone else owns, such as
/// a memory-mapped checkpoint shard.
///
/// - `data`: Rows * Cols words, row-major, 2-byte aligned;
/// - `owner`: keeps that memory alive for as long as the weight uses it;
/// - `release_pages`: drops the resident pages of a byte range from this
///   process (madvise on a read-only file mapping), so that a scan over a
///   large table does not leave it all in the resident set. The next read
///   pages it in again from the file. Null for memory that must not be
///   dropped, such as a heap buffer.
struct borrowed_bf16 {
    const kernel::bf16_word* data = nullptr;
    std::shared_ptr<const void> owner;
    void (*release_pages)(const void* begin, std::size_t bytes) = nullptr;
};

/// Weights with more elements than this start empty instead of zero-filled:
/// the published Gemma 4 E2B shape has 4.6 billion text parameters, 18 GB in
/// float32, and its checkpoint lends them in bf16 instead (see borrow()).
inline constexpr std::size_t lazy_weight_elements = std::size_t{1} << 24;

/// The weight of a linear layer or an embedding table, of shape (Rows, Cols).
/// The visitor and the checkpoint binder treat it as a parameter. Its values
/// are either the float32 tensor `value` or bf16 words borrowed from a
/// checkpoint. Borrowed weights cost no memory of their own. The blocks
/// widen them to float32 where they read them: the GEMM while packing,
/// embeddings per gathered row, export per chunk.
///
/// A weight of at most lazy_weight_elements values starts zero-filled like
/// any parameter. A larger one starts empty (value.size() == 0) until
/// assign() or borrow(); blocks throw when they meet it unloaded.
///
/// Example:
/// @code
///   weight_matrix<2, 3> w;                          // zeros, float32
///   const kernel::bf16_word words[6] = {{0x3F80}, {0}, {0}, {0}, {0x3F80}, {0}};
///   w.borrow({words, nullptr, nullptr});            // now reads the bf16 words
///   tensor f = w.to_float();                        // {{1, 0, 0}, {0, 1, 0}}
/// @endcode
template <std::size_t Rows, std::size_t Cols>
struct weight_matrix {
    static constexpr std::size_t rank = 2;
    static constexpr std::array<std::size_t, 2> shape{Rows, Cols};
    static constexpr std::size_t rows = Rows;
    static constexpr std::size_t cols = Cols;
    static constexpr std::size_t elements = Rows * Cols;
    static constexpr bool starts_empty = elements > lazy_weight_elements;

    /// The float32 values, (Rows, Cols); empty (size 0) while borrowed or not yet loaded.
    tensor value = starts_empty ? tensor::from_shape({0}) : tensor(xt::zeros<float>(shape));

    /// The borrowed words; data is null while the weight is float32.
    borrowed_bf16 bf16;

    /// Copies `values` into the float32 tensor and ends any borrow.
    /// Throws shape_error naming both shapes when they differ.
    template <class E>
    void assign(const xt::xexpression<E>& values) {
        assign(tensor(values.derived_cast()));
    }

    /// Moves `values` into the float32 tensor and ends any borrow.
    void assign(tensor&& values) {
        detail::assign_parameter(value, shape, std::move(values));
        bf16 = {};
    }

    /// Reads the weight from `words` from now on and frees the float32 tensor.
    /// Throws invalid_argument when words.data is null or not 2-byte aligned.
    void borrow(borrowed_bf16 words) {
        if (words.data == nullptr || reinterpret_cast<std::uintptr_t>(words.data) % alignof(kernel::bf16_word) != 0) {
            throw invalid_argument("weight_matrix::borrow: the bf16 words must be non-null and 2-byte aligned");
        }
        value = tensor::from_shape({0});
        bf16 = std::move(words);
    }

    bool is_borrowed() const noexcept { return bf16.data != nullptr; }

    /// True once the weight has values: borrowed, or a float32 tensor of the right size.
    bool is_loaded() const noexcept { return is_borrowed() || value.size() == elements; }

    /// Throws invalid_argument naming `site` when the weight has no values,
    /// which happens for a large weight that was neither loaded nor borrowed.
    void require_loaded(const std::string& site) const {
        if (!is_loaded()) {
            throw invalid_argument(site + ": the weight of shape " + detail::shape_description(shape) +
                                   " has no values; load a checkpoint (or assign values) before running the model");
        }
    }

    /// The float32 weight as a row-major view. Pre: loaded and not borrowed.
    kernel::matrix_ref<float> float_ref() const noexcept { return kernel::row_major(value.data(), Rows, Cols); }

    /// The borrowed weight as a row-major view. Pre: is_borrowed().
    kernel::matrix_ref<kernel::bf16_word> bf16_ref() const noexcept { return kernel::row_major(bf16.data, Rows, Cols); }

    /// Widens rows [first, first + count) to float32 into `out` (count * Cols floats).
    void rows_to_float(std::size_t first, std::size_t count, float* out) const noexcept {
        if (!is_borrowed()) {
            std::copy_n(value.data() + first * Cols, count * Cols, out);
            return;
        }
        const kernel::bf16_word* in = bf16.data + first * Cols;
        for (std::size_t i = 0; i < count * Cols; ++i) out[i] = kernel::convert_element(in[i]);
    }

    /// Returns a float32 copy of the whole weight (Rows, Cols). Pre: loaded.
    tensor to_float() const {
        if (!is_borrowed()) return value;
        tensor out = tensor::from_shape({Rows, Cols});
        rows_to_float(0, Rows, out.data());
        return out;
    }

    /// Drops the resident pages of borrowed rows [first, first + count)
    /// when the owner allows it; does nothing for a float32 weight.
    void release_rows(std::size_t first, std::size_t count) const noexcept {
        if (is_borrowed() && bf16.release_pages != nullptr && count > 0) {
            bf16.release_pages(bf16.data + first * Cols, count * Cols * sizeof(kernel::bf16_word));
        }
    }
};

template <std::size_t Rows, std::size_t Cols>
struct is_parameter<weight_matrix<Rows, Cols>> : std::true_type {};

}  // namespace wrapq
