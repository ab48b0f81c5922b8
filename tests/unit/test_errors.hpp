// Error-message and scratch-directory helpers shared by the unit tests that read files.
#pragma once

#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <typeinfo>
#include <vector>

namespace wrapq_test {

/// True when `text` contains `part`.
inline bool has(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

/// Runs `function` and returns the message of the `Error` it throws. Records
/// a test failure when it throws nothing or another exception type.
///
/// Example:
/// @code
///   const std::string m = error_message<wrapq::io_error>([&] { open("missing"); });
///   BOOST_TEST(has(m, "missing"));
/// @endcode
template <class Error, class Function>
std::string error_message(Function&& function) {
    try {
        function();
    } catch (const Error& e) {
        return e.what();
    } catch (const std::exception& e) {
        BOOST_ERROR("expected " << typeid(Error).name() << ", caught " << typeid(e).name() << ": " << e.what());
        return {};
    }
    BOOST_ERROR("expected " << typeid(Error).name() << ", but nothing was thrown");
    return {};
}

/// A fresh directory under the system temporary directory, named after
/// `prefix`, the process id and a counter, removed with its contents at scope exit.
struct scratch_directory {
    std::filesystem::path path;

    explicit scratch_directory(const std::string& prefix = "wrapq_test") {
        static int counter = 0;
        path = std::filesystem::temp_directory_path() /
               (prefix + "." + std::to_string(::getpid()) + "." + std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    scratch_directory(const scratch_directory&) = delete;
    scratch_directory& operator=(const scratch_directory&) = delete;
    ~scratch_directory() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }

    std::filesystem::path operator/(const std::string& name) const { return path / name; }

    /// File names in the directory, sorted.
    std::vector<std::string> entries() const {
        std::vector<std::string> names;
        for (const auto& entry : std::filesystem::directory_iterator(path)) names.push_back(entry.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }
};

}  // namespace wrapq_test
