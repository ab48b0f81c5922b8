// wrapq/io/safetensors_source.hpp: a safetensors file as a TensorSource for load_parameters().
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/io/bind.hpp"
#include "wrapq/io/safetensors_reader.hpp"

#include <string>
#include <vector>

namespace wrapq::io {

/// Adapts a safetensors_file to TensorSource: labels are the file path,
/// loads convert F32, F16 and BF16 to float32.
///
/// Example:
/// @code
///   const auto file = io::safetensors_file::open("model.safetensors");
///   gemma4::load_checkpoint(model, io::safetensors_source(file));
/// @endcode
class safetensors_source {
public:
    explicit safetensors_source(const safetensors_file& file) : file_(&file) {}

    std::string label() const { return file_->path().string(); }
    std::vector<std::string> names() const { return file_->names(); }
    std::vector<std::size_t> shape(const std::string& name) const { return file_->info(name).shape; }
    tensor load(const std::string& name) const { return file_->load(name); }

    /// Throws value_error naming the tensor, its dtype and the file unless
    /// load() can convert it, so a binder can reject the file before assigning anything.
    void check_loadable(const std::string& name) const {
        const tensor_info& entry = file_->info(name);
        if (!is_float_loadable(entry.dtype)) {
            throw value_error(label() + ": tensor '" + name + "' is stored as " + std::string(to_string(entry.dtype)) +
                              ", which wrapq cannot load as weights; convert the checkpoint to F32, F16 or BF16");
        }
    }

private:
    const safetensors_file* file_;
};

static_assert(TensorSource<safetensors_source>);

}  // namespace wrapq::io
