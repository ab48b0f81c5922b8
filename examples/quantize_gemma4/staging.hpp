// examples/quantize_gemma4/staging.hpp: writing every output file at once or not at all.
#pragma once

#include <wrapq/core/errors.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace quantize_gemma4 {

namespace fs = std::filesystem;

/// An exclusive flock(2) on a directory, held until destruction, which
/// closes the descriptor and so releases the lock.
///
/// NOTE: where flock on a directory fails (NFS clients emulate flock with
/// byte-range locks, which need a file opened for writing), the object
/// holds no lock, and the commits of two runs into one directory can
/// interleave there.
class directory_lock {
public:
    explicit directory_lock(const fs::path& directory) {
        descriptor_ = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (descriptor_ < 0) return;
        while (::flock(descriptor_, LOCK_EX) != 0) {
            if (errno == EINTR) continue;
            ::close(descriptor_);
            descriptor_ = -1;
            return;
        }
    }
    directory_lock(const directory_lock&) = delete;
    directory_lock& operator=(const directory_lock&) = delete;
    ~directory_lock() {
        if (descriptor_ >= 0) ::close(descriptor_);
    }

private:
    int descriptor_ = -1;
};

/// A hidden directory inside the output directory that receives every
/// output file. commit() checks every target first and then renames the
/// files into the output directory, which is atomic per file and takes
/// microseconds because both are on one file system. Destruction without
/// commit() removes the staging directory with whatever it holds, and the
/// output directories it created, so an error or Ctrl-C leaves the file
/// system as it was.
///
/// Example:
/// @code
///   staging_area staging("out");              // creates out/.quantize-gemma4-<pid>
///   write(staging.path() / "report.json");
///   staging.commit();                           // out/report.json appears
/// @endcode
class staging_area {
public:
    static constexpr std::string_view prefix = ".quantize-gemma4-";

    /// Creates `out` when missing and the staging directory inside it.
    /// Throws std::filesystem::filesystem_error when either cannot be created.
    explicit staging_area(const fs::path& out) : out_(out) {
        // Remember the outermost directory this run creates, to remove it on failure.
        for (fs::path p = fs::absolute(out_); !p.empty() && !fs::exists(p); p = p.parent_path()) {
            created_ = p;
            if (p == p.parent_path()) break;
        }
        fs::create_directories(out_);
        remove_stale_staging();
        path_ = out_ / (std::string(prefix) + std::to_string(::getpid()));
        fs::remove_all(path_);  // left over from a killed run with the same process id
        fs::create_directory(path_);
    }
    staging_area(const staging_area&) = delete;
    staging_area& operator=(const staging_area&) = delete;

    ~staging_area() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
        if (committed_ || !created_) return;
        // fs::remove deletes only empty directories, so nothing another program wrote is lost.
        for (fs::path p = fs::absolute(out_); p.string().size() >= created_->string().size(); p = p.parent_path()) {
            if (!fs::remove(p, ignored)) break;
            if (p == *created_) break;
        }
    }

    const fs::path& path() const noexcept { return path_; }

    /// Moves every staged file into the output directory, replacing files
    /// of the same name, and returns their final paths in name order.
    /// Throws wrapq::io_error naming the path, before moving anything,
    /// when a target exists and is not a regular file.
    ///
    /// The checks and renames run under an exclusive flock on the output
    /// directory. A second run into the same directory waits there until
    /// this commit ends, so its files replace this run's set as a whole
    /// instead of interleaving with it.
    std::vector<fs::path> commit() {
        const directory_lock lock(out_);
        std::vector<fs::path> staged;
        for (const fs::directory_entry& entry : fs::directory_iterator(path_)) staged.push_back(entry.path());
        std::sort(staged.begin(), staged.end());

        for (const fs::path& file : staged) {
            const fs::path target = out_ / file.filename();
            if (fs::exists(target) && !fs::is_regular_file(target)) {
                throw wrapq::io_error("--out " + out_.string() + ": " + target.string() +
                                         " exists and is not a regular file, so the output of that name cannot replace "
                                         "it; remove it or choose another --out");
            }
        }

        std::vector<fs::path> written;
        for (const fs::path& file : staged) {
            const fs::path target = out_ / file.filename();
            fs::rename(file, target);
            written.push_back(target);
        }
        committed_ = true;
        return written;
    }

private:
    /// Removes staging directories of runs whose process no longer exists,
    /// such as one killed by a second Ctrl-C or by SIGKILL.
    void remove_stale_staging() const {
        std::error_code ignored;
        for (const fs::directory_entry& entry : fs::directory_iterator(out_, ignored)) {
            const std::string name = entry.path().filename().string();
            if (name.rfind(prefix, 0) != 0 || !entry.is_directory(ignored)) continue;
            const std::string pid_text = name.substr(prefix.size());
            if (pid_text.empty() || pid_text.size() > 9 || pid_text.find_first_not_of("0123456789") != std::string::npos) {
                continue;
            }
            const long pid = std::stol(pid_text);
            if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove_all(entry.path(), ignored);
        }
    }

    fs::path out_;
    fs::path path_;
    std::optional<fs::path> created_;
    bool committed_ = false;
};

}  // namespace quantize_gemma4
