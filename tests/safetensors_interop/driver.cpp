// Reads and writes safetensors files for tests/python/safetensors_interop.py,
// which checks them against its own numpy implementation of the format.
//
// Usage:
//   wrapq_safetensors_interop read FILE OUT_DIR
//     Opens FILE with wrapq::io::safetensors_file and writes OUT_DIR/manifest.txt:
//       metadata KEY VALUE
//       tensor INDEX NAME DTYPE SHAPE BEGIN END
//     with one tensor line per tensor in header order. For each tensor it
//     writes OUT_DIR/INDEX.bytes (bytes()) and, for F32, F16 and BF16,
//     OUT_DIR/INDEX.f32 (load() as little-endian float32). For any other
//     dtype it checks that load() throws wrapq::invalid_argument.
//
//   wrapq_safetensors_interop write JOBS OUT_FILE
//     Adds the entries of JOBS to a wrapq::io::safetensors_writer, in order,
//     and writes OUT_FILE. Each line of JOBS is one of:
//       metadata KEY VALUE
//       tensor NAME DTYPE SHAPE PATH   calls add() with DTYPE F32, F16 or BF16 on the float32 values in PATH
//       bytes NAME DTYPE SHAPE PATH    calls add_bytes() with the stored bytes in PATH
//
//   wrapq_safetensors_interop open FILE
//     Opens FILE and prints "ok", or prints "rejected: MESSAGE" for a wrapq::error.
//
// Names, keys and values are hex-encoded UTF-8 bytes ("-" for an empty
// string), so any character survives whitespace-separated lines. SHAPE is
// comma-separated extents, or "-" for rank 0.
//
// Exit status: 0 on success, including "rejected" results of open; 1 on any
// error, with the reason on stderr.

#include <wrapq/io.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace fs = std::filesystem;
using wrapq::io::safetensors_dtype;

std::string to_hex(std::string_view bytes) {
    if (bytes.empty()) return "-";
    constexpr char digits[] = "0123456789abcdef";
    std::string text;
    for (const char ch : bytes) {
        const auto c = static_cast<unsigned char>(ch);
        text += digits[c >> 4];
        text += digits[c & 0xF];
    }
    return text;
}

std::string from_hex(const std::string& text) {
    if (text == "-") return {};
    if (text.size() % 2 != 0) throw std::runtime_error("odd-length hex string '" + text + "'");
    std::string bytes;
    for (std::size_t i = 0; i < text.size(); i += 2) bytes += static_cast<char>(std::stoi(text.substr(i, 2), nullptr, 16));
    return bytes;
}

std::string shape_text(const std::vector<std::size_t>& shape) {
    if (shape.empty()) return "-";
    std::string text;
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) text += ',';
        text += std::to_string(shape[i]);
    }
    return text;
}

std::vector<std::size_t> parse_shape(const std::string& text) {
    std::vector<std::size_t> shape;
    if (text == "-") return shape;
    std::istringstream parts(text);
    std::string extent;
    while (std::getline(parts, extent, ',')) shape.push_back(std::stoull(extent));
    return shape;
}

safetensors_dtype parse_dtype(const std::string& name) {
    const auto dtype = wrapq::io::parse_safetensors_dtype(name);
    if (!dtype) throw std::runtime_error("unknown dtype '" + name + "'");
    return *dtype;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("failed to open " + path.string());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& path, const void* data, std::size_t size) {
    std::ofstream out(path, std::ios::binary);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) throw std::runtime_error("failed to write " + path.string());
}

int run_read(const fs::path& file_path, const fs::path& out_dir) {
    const auto file = wrapq::io::safetensors_file::open(file_path);
    std::ofstream manifest(out_dir / "manifest.txt");
    for (const auto& [key, value] : file.metadata()) manifest << "metadata " << to_hex(key) << ' ' << to_hex(value) << '\n';

    const std::vector<std::string> names = file.names();
    for (std::size_t index = 0; index < names.size(); ++index) {
        const wrapq::io::tensor_info& info = file.info(names[index]);
        manifest << "tensor " << index << ' ' << to_hex(info.name) << ' ' << to_string(info.dtype) << ' '
                 << shape_text(info.shape) << ' ' << info.data_begin << ' ' << info.data_end << '\n';

        const std::span<const std::byte> bytes = file.bytes(info.name);
        write_file(out_dir / (std::to_string(index) + ".bytes"), bytes.data(), bytes.size());

        if (wrapq::io::is_float_loadable(info.dtype)) {
            const wrapq::tensor values = file.load(info.name);
            std::vector<std::uint32_t> bits(values.size());
            for (std::size_t i = 0; i < values.size(); ++i) bits[i] = std::bit_cast<std::uint32_t>(values.data()[i]);
            write_file(out_dir / (std::to_string(index) + ".f32"), bits.data(), bits.size() * sizeof(std::uint32_t));
        } else {
            try {
                (void)file.load(info.name);
                throw std::runtime_error("load() accepted tensor " + info.name + " of dtype " +
                                         std::string(to_string(info.dtype)));
            } catch (const wrapq::invalid_argument&) {
                // Expected: only F32, F16 and BF16 convert to float32.
            }
        }
    }
    if (!manifest) throw std::runtime_error("failed to write the manifest in " + out_dir.string());
    std::cout << "read " << names.size() << " tensors from " << file_path.string() << '\n';
    return 0;
}

int run_write(const fs::path& jobs_path, const fs::path& out_file) {
    wrapq::io::safetensors_writer writer;
    std::ifstream jobs(jobs_path);
    if (!jobs) throw std::runtime_error("failed to open " + jobs_path.string());
    std::string line;
    while (std::getline(jobs, line)) {
        std::istringstream fields(line);
        std::string kind;
        if (!(fields >> kind)) continue;
        if (kind == "metadata") {
            std::string key, value;
            fields >> key >> value;
            writer.set_metadata(from_hex(key), from_hex(value));
            continue;
        }
        std::string name, dtype, shape, path;
        if (!(fields >> name >> dtype >> shape >> path)) throw std::runtime_error("incomplete line '" + line + "'");
        const std::string data = read_file(path);
        if (kind == "tensor") {
            wrapq::tensor values = xt::empty<float>(parse_shape(shape));
            if (data.size() != values.size() * sizeof(float)) {
                throw std::runtime_error(path + " has " + std::to_string(data.size()) + " bytes, expected " +
                                         std::to_string(values.size() * sizeof(float)));
            }
            for (std::size_t i = 0; i < values.size(); ++i) {
                std::uint32_t bits = 0;
                for (int b = 3; b >= 0; --b) bits = (bits << 8) | static_cast<unsigned char>(data[4 * i + b]);
                values.data()[i] = std::bit_cast<float>(bits);
            }
            writer.add(from_hex(name), values, parse_dtype(dtype));
        } else if (kind == "bytes") {
            writer.add_bytes(from_hex(name), parse_dtype(dtype), parse_shape(shape),
                             std::as_bytes(std::span(data.data(), data.size())));
        } else {
            throw std::runtime_error("unknown job '" + kind + "'");
        }
    }
    writer.write(out_file);
    std::cout << "wrote " << writer.size() << " tensors to " << out_file.string() << '\n';
    return 0;
}

int run_open(const fs::path& file_path) {
    try {
        const auto file = wrapq::io::safetensors_file::open(file_path);
        std::cout << "ok\n";
    } catch (const wrapq::error& e) {
        std::cout << "rejected: " << e.what() << '\n';
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (args.size() == 3 && args[0] == "read") return run_read(args[1], args[2]);
        if (args.size() == 3 && args[0] == "write") return run_write(args[1], args[2]);
        if (args.size() == 2 && args[0] == "open") return run_open(args[1]);
        std::cerr << "usage: wrapq_safetensors_interop read FILE OUT_DIR | write JOBS OUT_FILE | open FILE\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << '\n';
        return 1;
    }
}
