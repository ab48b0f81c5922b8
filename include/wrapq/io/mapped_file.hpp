// wrapq/io/mapped_file.hpp: a read-only memory mapping of a whole file (POSIX mmap).
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <system_error>
#include <utility>

namespace wrapq::io {

/// A whole regular file mapped read-only with MAP_PRIVATE. The kernel reads
/// pages on first access, so opening a file of several GB costs no I/O and
/// only the bytes that are read are loaded. The mapping is released in the
/// destructor. The object is movable, and a move keeps the mapping at the
/// same address, so spans from bytes() stay valid until the owning object is destroyed.
///
/// NOTE: if another process truncates the file while it is mapped, reading
/// the lost pages raises SIGBUS. POSIX offers no portable way to prevent this.
class mapped_file {
public:
    mapped_file() = default;

    /// Maps the file at `path`. Throws io_error naming the path and the system
    /// error when the file cannot be opened, is not a regular file, or cannot
    /// be mapped. An empty file gives an empty mapping.
    static mapped_file open(const std::filesystem::path& path) {
        // O_NONBLOCK keeps open() from waiting for a writer when the path is a
        // FIFO, which the regular-file check below then rejects.
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) throw system_failure(path, "cannot open the file for reading", errno);

        struct stat status {};
        if (::fstat(fd, &status) != 0) {
            const int error = errno;
            ::close(fd);
            throw system_failure(path, "cannot read the file's status", error);
        }
        if (!S_ISREG(status.st_mode)) {
            ::close(fd);
            throw io_error(path.string() + ": not a regular file" +
                           (S_ISDIR(status.st_mode) ? " but a directory" : std::string()));
        }
        const auto size = static_cast<std::uint64_t>(status.st_size);
        if (size > std::numeric_limits<std::size_t>::max()) {
            ::close(fd);
            throw io_error(path.string() + ": the file has " + std::to_string(size) +
                           " bytes, more than this platform can map");
        }

        mapped_file file;
        if (size > 0) {
            void* address = ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
            if (address == MAP_FAILED) {
                const int error = errno;
                ::close(fd);
                throw system_failure(path, "cannot map the file into memory", error);
            }
            file.address_ = address;
            file.size_ = static_cast<std::size_t>(size);
        }
        // The mapping keeps its own reference to the file, so closing the descriptor is safe.
        ::close(fd);
        return file;
    }

    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;

    mapped_file(mapped_file&& other) noexcept
        : address_(std::exchange(other.address_, nullptr)), size_(std::exchange(other.size_, 0)) {}

    mapped_file& operator=(mapped_file&& other) noexcept {
        if (this != &other) {
            unmap();
            address_ = std::exchange(other.address_, nullptr);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }

    ~mapped_file() { unmap(); }

    /// The mapped bytes, valid until this object (or the one it moved into) is destroyed.
    std::span<const std::byte> bytes() const noexcept { return {static_cast<const std::byte*>(address_), size_}; }

    std::size_t size() const noexcept { return size_; }

    /// Drops the resident pages wholly inside [begin, begin + bytes) of a
    /// mapping made by open(), so that they stop counting in this process's
    /// resident set. The next read fetches them again from the page cache or
    /// the file, with the same values, because a read-only mapping never
    /// wrote them. Partial pages at either end
    /// are kept. Errors are ignored: the call only saves memory.
    ///
    /// Pre: the range lies inside a mapping made by open().
    static void release_pages(const void* begin, std::size_t bytes) noexcept {
        const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
        const auto first = (reinterpret_cast<std::uintptr_t>(begin) + page - 1) / page * page;
        const auto last = (reinterpret_cast<std::uintptr_t>(begin) + bytes) / page * page;
        if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
    }

private:
    void unmap() noexcept {
        if (address_ != nullptr) ::munmap(address_, size_);
        address_ = nullptr;
        size_ = 0;
    }

    static io_error system_failure(const std::filesystem::path& path, const std::string& operation, int error) {
        return io_error(path.string() + ": " + operation + ": " + std::generic_category().message(error));
    }

    void* address_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace wrapq::io
