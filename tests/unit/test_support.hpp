// Helpers shared by the unit tests.
#pragma once

#include <wrapq/core/tensor.hpp>

#include <bit>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace wrapq_test {

/// Bit pattern of a float, so a test can demand bit-exact equality and print both values in hex.
inline std::uint32_t bits(float x) { return std::bit_cast<std::uint32_t>(x); }

/// Builds an (n, 1) column tensor, because `tensor{{1.0f}, {2.0f}}` is ambiguous in xtensor.
inline wrapq::tensor column(const std::vector<float>& values) {
    wrapq::tensor t = xt::empty<float>({values.size(), std::size_t{1}});
    for (std::size_t i = 0; i < values.size(); ++i) t(i, 0) = values[i];
    return t;
}

/// Returns a tensor of normal values with mean 0 and standard deviation `spread`, reproducible from `seed`.
inline wrapq::tensor random_tensor(std::vector<std::size_t> shape, unsigned seed, float spread = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, spread);
    wrapq::tensor t = xt::empty<float>(shape);
    for (float& v : t) v = normal(rng);
    return t;
}

inline std::vector<float> to_vector(const wrapq::tensor& t) { return {t.begin(), t.end()}; }

/// An in-memory TensorSource (see wrapq/io/bind.hpp), so binding rules are tested without files.
struct map_source {
    std::map<std::string, wrapq::tensor> tensors;

    std::string label() const { return "memory.safetensors"; }
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& [name, value] : tensors) out.push_back(name);
        return out;
    }
    std::vector<std::size_t> shape(const std::string& name) const {
        const auto& s = tensors.at(name).shape();
        return {s.begin(), s.end()};
    }
    wrapq::tensor load(const std::string& name) const { return tensors.at(name); }
};

}  // namespace wrapq_test
