// wrapq/core/errors.hpp: exception types thrown by wrapq.
#pragma once

#include "wrapq/config.hpp"

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

}  // namespace wrapq
