// wrapq/core/errors.hpp: exception types thrown by wrapq.
#pragma once

#include "wrapq/config.hpp"

#include <cstdio>
#include <stdexcept>
#include <string>

namespace wrapq {

/// Base of every exception wrapq throws, so callers can catch them all at once.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A parameter outside its documented domain (a momentum of 1.5, a scale of 0).
class invalid_argument : public error {
public:
    using error::error;
};

/// A tensor whose rank, shape or channel count does not fit the operation.
class shape_error : public error {
public:
    using error::error;
};

/// Calibration state that cannot produce qparams: an observer that saw no
/// finite value, or a batch with nothing but NaN and infinities.
class calibration_error : public error {
public:
    using error::error;
};

/// A tensor value that cannot be stored, such as NaN in integer quantization.
class value_error : public error {
public:
    using error::error;
};

/// A file whose contents break its format, such as a safetensors file whose
/// header is invalid JSON or whose tensor data lies outside the file.
class format_error : public error {
public:
    using error::error;
};

/// A file system operation that failed (open, map, write or rename). The
/// message names the path and the reason the operating system gave.
class io_error : public error {
public:
    using error::error;
};

/// Formats a number for an error message with up to 9 significant digits,
/// enough to identify any float32 ("1e-09", "3.0518509e-05", "-3.00000005e+38"),
/// where std::to_string would print "-0.000000" or 39 digits.
inline std::string to_text(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.9g", value);
    return buffer;
}

}  // namespace wrapq
