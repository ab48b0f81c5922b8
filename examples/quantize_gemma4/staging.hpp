// examples/quantize_gemma4/staging.hpp: writing every output file at once or not at all.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace quantize_gemma4 {

namespace fs = std::filesystem;

/// A hidden directory inside the output directory that receives every
/// output file. commit() renames them into the output directory, which is
/// atomic per file and takes microseconds because both are on one file
/// system. Destruction without commit() removes the staging directory with
/// whatever it holds, so an error or Ctrl-C leaves the output directory as
/// it was.
///
/// Example:
/// @code
///   staging_area staging("out");              // creates out/.quantize-gemma4-<pid>
///   write(staging.path() / "report.json");
///   staging.commit();                           // out/report.json appears
/// @endcode
class staging_area {
public:
    /// Creates `out` when missing and the staging directory inside it.
    /// Throws std::filesystem::filesystem_error when either cannot be created.
    explicit staging_area(const fs::path& out) : out_(out) {
        fs::create_directories(out_);
        path_ = out_ / (".quantize-gemma4-" + std::to_string(::getpid()));
        fs::remove_all(path_);  // left over from a killed run with the same process id
        fs::create_directory(path_);
    }
    staging_area(const staging_area&) = delete;
    staging_area& operator=(const staging_area&) = delete;

    ~staging_area() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }

    const fs::path& path() const noexcept { return path_; }

    /// Moves every staged file into the output directory, replacing files
    /// of the same name, and returns their final paths in name order.
    std::vector<fs::path> commit() {
        std::vector<fs::path> staged;
        for (const fs::directory_entry& entry : fs::directory_iterator(path_)) staged.push_back(entry.path());
        std::sort(staged.begin(), staged.end());

        std::vector<fs::path> written;
        for (const fs::path& file : staged) {
            const fs::path target = out_ / file.filename();
            fs::rename(file, target);
            written.push_back(target);
        }
        return written;
    }

private:
    fs::path out_;
    fs::path path_;
};

}  // namespace quantize_gemma4
