// examples/command_line.hpp: usage errors and integer options shared by the example programs.
#pragma once

#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

namespace examples {

/// A program's name and usage line, for reporting command-line mistakes.
///
/// Example:
/// @code
///   constexpr examples::command_line cli{"gemma4_export", "usage: gemma4_export [--seed N]\n"};
///   long seed = cli.integer("--seed", argv[2], 0, 1000);   // exits with status 2 on "abc"
/// @endcode
struct command_line {
    std::string_view program;
    std::string_view usage;  ///< The usage line, ending in a newline.

    /// Prints "program: message" and the usage line to stderr, then exits
    /// with status 2, the usual status for invalid command-line usage.
    [[noreturn]] void fail(const std::string& message) const {
        std::cerr << program << ": " << message << "\n" << usage;
        std::exit(2);
    }

    /// Returns `text` as a decimal integer in [min, max], or fails naming `flag`.
    long integer(std::string_view flag, const char* text, long min, long max) const {
        char* end = nullptr;
        const long value = std::strtol(text, &end, 10);
        if (end == text || *end != '\0' || value < min || value > max) {
            fail(std::string(flag) + " expects an integer from " + std::to_string(min) + " to " + std::to_string(max) +
                 ", got '" + text + "'");
        }
        return value;
    }
};

}  // namespace examples
