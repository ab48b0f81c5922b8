// Loads a Gemma 4 checkpoint with a vision tower into a compile-time
// for_conditional_generation and runs the float forward on token ids and
// images. It writes the soft tokens, the merged embeddings and the logits,
// which tests/python/gemma4_vision_parity.py compares with the independent
// PyTorch reference in tests/python/gemma4_vision_reference.py.
//
// Usage:
//   wrapq_gemma4_vision_parity describe CONFIG
//   wrapq_gemma4_vision_parity run CONFIG CHECKPOINT_DIR IDS.npy OUT_DIR [PIXELS.npy POSITIONS.npy]...
//
// CONFIG is vision (tiny_conditional) or vision-clipped
// (tiny_conditional_clipped). IDS.npy contains integer ids of shape (S,) or
// (1, S); PIXELS.npy float32 (N, 3 p^2) and POSITIONS.npy integers (N, 2)
// per image. `describe` prints the configuration as config.json would hold
// it; `run` writes OUT_DIR/image_<k>_pooled.f32, image_<k>_soft_tokens.f32,
// inputs_embeds.f32 and logits.f32 (raw float32, little-endian) and prints
// one JSON line with their shapes.
#include <wrapq.hpp>
#include <wrapq/io/safetensors_checkpoint.hpp>
#include <wrapq/models/gemma4/checkpoint.hpp>

#include "describe_config.hpp"
#include "driver_output.hpp"

#include <bit>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

static_assert(std::endian::native == std::endian::little, "the .npy files are read as little-endian arrays");

namespace {

namespace fs = std::filesystem;
using namespace wrapq;

/// A NumPy .npy array (format 1.x or 2.x, C order) as doubles, with its shape.
struct npy_array {
    std::vector<std::size_t> shape;
    std::vector<double> values;
};

/// Reads little-endian float32, float64, int32 or int64 arrays, the types the
/// parity script writes; anything else is an error naming the file.
npy_array read_npy(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    char magic[8];
    if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error(path.string() + ": not a .npy file");
    std::uint32_t header_length = 0;
    if (magic[6] == 1) {
        std::uint16_t n = 0;
        in.read(reinterpret_cast<char*>(&n), 2);
        header_length = n;
    } else {
        in.read(reinterpret_cast<char*>(&header_length), 4);
    }
    std::string header(header_length, '\0');
    in.read(header.data(), header_length);
    if (!in || header.find("'fortran_order': False") == std::string::npos) {
        throw std::runtime_error(path.string() + ": unreadable header or Fortran order");
    }
    const std::size_t descr = header.find("'descr': '") + 10;
    const std::string type = header.substr(descr, header.find('\'', descr) - descr);

    npy_array a;
    const std::size_t open = header.find('(', header.find("'shape'")), close = header.find(')', open);
    std::string dims = header.substr(open + 1, close - open - 1);
    for (std::size_t pos = 0; pos < dims.size();) {
        const std::size_t comma = dims.find(',', pos);
        const std::string item = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (item.find_first_of("0123456789") != std::string::npos) a.shape.push_back(std::stoul(item));
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    std::size_t count = 1;
    for (std::size_t d : a.shape) count *= d;

    auto read_as = [&](auto sample) {
        using T = decltype(sample);
        std::vector<T> raw(count);
        in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(count * sizeof(T)));
        if (!in) throw std::runtime_error(path.string() + ": fewer values than its shape needs");
        a.values.assign(raw.begin(), raw.end());
    };
    if (type == "<f4") read_as(float{});
    else if (type == "<f8") read_as(double{});
    else if (type == "<i4") read_as(std::int32_t{});
    else if (type == "<i8") read_as(std::int64_t{});
    else throw std::runtime_error(path.string() + ": unsupported dtype '" + type + "'");
    return a;
}

nn::token_ids read_ids(const fs::path& path) {
    const npy_array a = read_npy(path);
    nn::token_ids ids = xt::zeros<std::int64_t>({std::size_t{1}, a.values.size()});
    for (std::size_t i = 0; i < a.values.size(); ++i) ids(0, i) = static_cast<std::int64_t>(a.values[i]);
    return ids;
}

gemma4::vision_input read_image(const fs::path& pixels_path, const fs::path& positions_path) {
    const npy_array pixels = read_npy(pixels_path), positions = read_npy(positions_path);
    if (pixels.shape.size() != 2 || positions.shape.size() != 2) throw std::runtime_error("images must be rank-2 arrays");
    gemma4::vision_input in{tensor::from_shape({pixels.shape[0], pixels.shape[1]}),
                            gemma4::patch_positions({positions.shape[0], positions.shape[1]})};
    for (std::size_t i = 0; i < pixels.values.size(); ++i) in.pixel_values.data()[i] = static_cast<float>(pixels.values[i]);
    for (std::size_t i = 0; i < positions.values.size(); ++i) in.positions.data()[i] = static_cast<std::int32_t>(positions.values[i]);
    return in;
}

using wrapq_test::shape_json;
using wrapq_test::write_f32;

template <auto C>
int run(int argc, char** argv) {
    const fs::path checkpoint = argv[3], ids_path = argv[4], out_dir = argv[5];
    if ((argc - 6) % 2 != 0) throw std::invalid_argument("each image needs PIXELS.npy and POSITIONS.npy");
    std::vector<gemma4::vision_input> images;
    for (int i = 6; i + 1 < argc; i += 2) images.push_back(read_image(argv[i], argv[i + 1]));

    auto model = std::make_unique<gemma4::for_conditional_generation<C>>();
    const io::safetensors_checkpoint source = io::safetensors_checkpoint::open(checkpoint);
    gemma4::load_checkpoint(*model, source);

    // The reference masks with the float minimum, as Hugging Face does.
    model->model.language_model.mask_fill = std::numeric_limits<float>::lowest();
    model->model.vision_tower.encoder.mask_fill = std::numeric_limits<float>::lowest();

    fs::create_directories(out_dir);
    std::string shapes;
    auto save = [&](const std::string& name, const tensor& t) {
        write_f32(out_dir / (name + ".f32"), t);
        shapes += (shapes.empty() ? "" : ", ") + ("\"" + name + "\": ") + shape_json(t);
    };
    for (std::size_t k = 0; k < images.size(); ++k) {
        save("image_" + std::to_string(k) + "_pooled", model->model.vision_tower.forward(images[k]));
        save("image_" + std::to_string(k) + "_soft_tokens", model->model.image_embeddings(images[k]));
    }
    const nn::token_ids ids = read_ids(ids_path);
    save("inputs_embeds", model->model.merge(ids, images).embeds);
    save("logits", model->forward(ids, images));
    std::cout << "{\"tensors\": {" << shapes << "}}\n";
    return 0;
}

template <auto C>
int dispatch(int argc, char** argv) {
    const std::string command = argv[1];
    if (command == "describe") {
        wrapq_test::describe(std::cout, C);
        std::cout << "\n";
        return 0;
    }
    if (command != "run" || argc < 6) {
        throw std::invalid_argument("usage: run CONFIG CHECKPOINT_DIR IDS.npy OUT_DIR [PIXELS.npy POSITIONS.npy]...");
    }
    return run<C>(argc, argv);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc < 3) throw std::invalid_argument("usage: wrapq_gemma4_vision_parity describe|run CONFIG ...");
        const std::string config = argv[2];
        if (config == "vision") return dispatch<gemma4::tiny_conditional>(argc, argv);
        if (config == "vision-clipped") return dispatch<gemma4::tiny_conditional_clipped>(argc, argv);
        throw std::invalid_argument("unknown config '" + config + "'; use vision or vision-clipped");
    } catch (const std::exception& e) {
        std::cerr << "wrapq_gemma4_vision_parity: " << e.what() << "\n";
        return 1;
    }
}
