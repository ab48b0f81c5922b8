// wrapq/module/tensor_spill.hpp: float tensors kept in memory up to a budget, the rest in an unlinked temporary file.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace wrapq {

/// A queue of float tensors that are written once and read back once, in
/// order. The first `memory_budget` bytes stay in memory. Later tensors go
/// to a temporary file in std::filesystem::temp_directory_path() (TMPDIR),
/// which is unlinked at once, so it disappears with the process even after
/// a crash. The file's pages sit in the kernel's page cache, not in this
/// process's resident set.
///
/// site_comparison uses it to hold the float forward's value at every site:
/// about 30 MB per token for Gemma 4 E2B, 15 GB for a sample of 512 tokens.
///
/// Example:
/// @code
///   tensor_spill spill(1 << 20);                 // 1 MiB in memory
///   spill.push(xt::ones<float>({1024, 1024}));   // 4 MiB: goes to the file
///   tensor back = spill.take(0);                 // read back, same values
/// @endcode
class tensor_spill {
public:
    explicit tensor_spill(std::size_t memory_budget) : budget_(memory_budget) {}

    tensor_spill(const tensor_spill&) = delete;
    tensor_spill& operator=(const tensor_spill&) = delete;
    tensor_spill(tensor_spill&& other) noexcept { *this = std::move(other); }
    tensor_spill& operator=(tensor_spill&& other) noexcept {
        if (this != &other) {
            close_file();
            budget_ = other.budget_;
            held_ = std::exchange(other.held_, 0);
            end_ = std::exchange(other.end_, 0);
            fd_ = std::exchange(other.fd_, -1);
            entries_ = std::move(other.entries_);
        }
        return *this;
    }
    ~tensor_spill() { close_file(); }

    std::size_t size() const noexcept { return entries_.size(); }

    /// Bytes written to the file since the last clear().
    std::uint64_t spilled_bytes() const noexcept { return end_; }

    /// Appends a copy of `value`. Throws io_error naming the directory when
    /// the temporary file cannot be created or written (a full disk).
    void push(const tensor& value) {
        entry e;
        e.shape.assign(value.shape().begin(), value.shape().end());
        const std::size_t bytes = value.size() * sizeof(float);
        if (held_ + bytes <= budget_) {
            e.value = value;
            held_ += bytes;
        } else {
            e.offset = append(value.data(), bytes);
            e.in_file = true;
        }
        entries_.push_back(std::move(e));
    }

    /// Returns tensor `i` and frees its memory. Throws invalid_argument when
    /// `i` is out of range or was read back before.
    tensor take(std::size_t i) {
        if (i >= entries_.size() || entries_[i].read_back) {
            throw invalid_argument("tensor_spill: tensor " + std::to_string(i) +
                                   (i >= entries_.size() ? " does not exist" : " was read already") +
                                   "; each pushed tensor is read back once");
        }
        entry& e = entries_[i];
        e.read_back = true;
        if (!e.in_file) {
            held_ -= e.value.size() * sizeof(float);
            return std::exchange(e.value, tensor());
        }
        tensor out = tensor::from_shape(e.shape);
        read_at(e.offset, out.data(), out.size() * sizeof(float));
        return out;
    }

    /// Forgets every tensor; the file space is reused from its start.
    void clear() {
        entries_.clear();
        held_ = 0;
        end_ = 0;
        if (fd_ >= 0 && ::ftruncate(fd_, 0) != 0) close_file();  // a fresh file next time
    }

private:
    struct entry {
        std::vector<std::size_t> shape;
        tensor value;
        std::uint64_t offset = 0;
        bool in_file = false;
        bool read_back = false;  // take() ran for this entry
    };

    std::uint64_t append(const float* data, std::size_t bytes) {
        if (fd_ < 0) open_file();
        const std::uint64_t offset = end_;
        const char* p = reinterpret_cast<const char*>(data);
        std::size_t done = 0;
        while (done < bytes) {
            const ssize_t n = ::pwrite(fd_, p + done, bytes - done, static_cast<off_t>(offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) fail("cannot write to", n < 0 ? errno : ENOSPC);
            done += static_cast<std::size_t>(n);
        }
        end_ += bytes;
        return offset;
    }

    void read_at(std::uint64_t offset, float* out, std::size_t bytes) const {
        char* p = reinterpret_cast<char*>(out);
        std::size_t done = 0;
        while (done < bytes) {
            const ssize_t n = ::pread(fd_, p + done, bytes - done, static_cast<off_t>(offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) fail("cannot read back", n < 0 ? errno : EIO);
            done += static_cast<std::size_t>(n);
        }
    }

    void open_file() {
        std::string path = (std::filesystem::temp_directory_path() / "wrapq-spill-XXXXXX").string();
        fd_ = ::mkstemp(path.data());
        if (fd_ < 0) fail("cannot create a temporary file in", errno);
        ::unlink(path.c_str());  // the file now lives only as long as the descriptor
    }

    [[noreturn]] void fail(const char* what, int error) const {
        throw io_error(std::string("tensor_spill: ") + what + " a temporary file in " +
                       std::filesystem::temp_directory_path().string() + ": " +
                       std::generic_category().message(error) +
                       "; free space there, point TMPDIR at a larger file system, or compare fewer tokens at once");
    }

    void close_file() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    std::size_t budget_ = 0;
    std::size_t held_ = 0;
    std::uint64_t end_ = 0;
    int fd_ = -1;
    std::vector<entry> entries_;
};

}  // namespace wrapq
