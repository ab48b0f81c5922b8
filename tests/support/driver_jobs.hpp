// Job files of the test drivers: tests/python scripts write jobs.txt (one job
// per line as key=value fields) and raw little-endian arrays, a driver runs
// wrapq on them and writes raw arrays back for the script to compare.
#pragma once

#include <wrapq/core/tensor.hpp>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

static_assert(std::endian::native == std::endian::little, "the driver file protocol stores raw little-endian arrays");

namespace wrapq_test {

namespace fs = std::filesystem;
using wrapq::tensor;

/// One line of jobs.txt, split into its key=value fields.
struct job_spec {
    std::string id;
    std::map<std::string, std::string> fields;

    const std::string& field(const std::string& key) const {
        const auto it = fields.find(key);
        if (it == fields.end()) throw std::runtime_error("the field '" + key + "' is missing");
        return it->second;
    }

    std::size_t size_field(const std::string& key) const {
        const std::string& text = field(key);
        std::size_t end = 0;
        const unsigned long value = std::stoul(text, &end);
        if (end != text.size()) throw std::runtime_error("the field " + key + "=" + text + " is not an integer");
        return value;
    }

    float float_field(const std::string& key) const {
        const std::string& text = field(key);
        char* end = nullptr;
        errno = 0;
        const float value = std::strtof(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || errno == ERANGE) {
            throw std::runtime_error("the field " + key + "=" + text + " is not a float32 value");
        }
        return value;
    }

    bool flag_field(const std::string& key) const {
        const std::string& text = field(key);
        if (text != "0" && text != "1") throw std::runtime_error("the field " + key + "=" + text + " must be 0 or 1");
        return text == "1";
    }
};

std::vector<job_spec> read_jobs(const fs::path& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("failed to open " + path.string());

    std::vector<job_spec> jobs;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream tokens(line);
        job_spec job;
        std::string token;
        while (tokens >> token) {
            const auto equals = token.find('=');
            if (equals == std::string::npos) {
                throw std::runtime_error("invalid field '" + token + "' in " + path.string() + "; expected key=value");
            }
            job.fields[token.substr(0, equals)] = token.substr(equals + 1);
        }
        if (job.fields.empty()) continue;
        job.id = job.field("id");
        jobs.push_back(std::move(job));
    }
    return jobs;
}

std::vector<std::size_t> parse_shape(const std::string& text) {
    std::vector<std::size_t> shape;
    std::istringstream parts(text);
    std::string extent;
    while (std::getline(parts, extent, ',')) shape.push_back(std::stoul(extent));
    if (shape.empty()) throw std::runtime_error("invalid shape '" + text + "'");
    return shape;
}

template <class T>
std::vector<T> read_array(const fs::path& path, std::size_t count) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("failed to open " + path.string());
    std::vector<T> values(count);
    in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(count * sizeof(T)));
    if (in.gcount() != static_cast<std::streamsize>(count * sizeof(T)) || in.peek() != std::char_traits<char>::eof()) {
        throw std::runtime_error(path.string() + " does not contain exactly " + std::to_string(count) + " values of " +
                                 std::to_string(sizeof(T)) + " bytes");
    }
    return values;
}

template <class T>
void write_array(const fs::path& path, const T* data, std::size_t count) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(count * sizeof(T)));
    if (!out) throw std::runtime_error("failed to write " + path.string());
}

void write_tensor(const fs::path& path, const tensor& values) { write_array(path, values.data(), values.size()); }

tensor read_tensor(const fs::path& path, const std::vector<std::size_t>& shape) {
    tensor result = xt::empty<float>(shape);
    const std::vector<float> values = read_array<float>(path, result.size());
    std::copy(values.begin(), values.end(), result.data());
    return result;
}

template <class T>
void write_array(const fs::path& path, const std::vector<T>& values) {
    write_array(path, values.data(), values.size());
}

/// Runs the driver main loop: reads DIR/jobs.txt from the one command-line
/// argument and calls `run(dir, job)` for each job. Returns the exit status:
/// 2 for bad usage, 1 when a job fails (naming it), 0 after printing the
/// xsimd architecture and the job count.
template <class Run>
int run_job_file(int argc, char** argv, const std::string& program, const std::string& script, Run&& run) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " DIR\n"
                  << "Runs the jobs listed in DIR/jobs.txt; " << script << " writes that directory.\n";
        return 2;
    }
    const fs::path dir = argv[1];

    std::vector<job_spec> jobs;
    try {
        jobs = read_jobs(dir / "jobs.txt");
    } catch (const std::exception& e) {
        std::cerr << program << ": " << e.what() << '\n';
        return 1;
    }

    for (const job_spec& job : jobs) {
        try {
            run(dir, job);
        } catch (const std::exception& e) {
            std::cerr << program << ": job " << job.id << " failed: " << e.what() << '\n';
            return 1;
        }
    }

    std::cout << program << ": xsimd " << xsimd::batch<float>::arch_type::name() << ", ran " << jobs.size() << " jobs\n";
    return 0;
}

}  // namespace wrapq_test
