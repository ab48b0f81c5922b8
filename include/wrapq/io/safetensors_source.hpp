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

private:
    const safetensors_file* file_;
};

static_assert(TensorSource<safetensors_source>);

}  // namespace wrapq::io
