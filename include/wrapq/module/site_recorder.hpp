// wrapq/module/site_recorder.hpp: observing the tensor at every fake-quantization site of a forward.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/tensor.hpp"

#include <string>

namespace wrapq {

/// Receives, for each fake_quant_site() call of a forward, the observer's
/// dotted name and the tensor the site returns: the float input in no_quant
/// and calibration mode (or with fake quantization switched off), the
/// fake-quantized tensor in quantized mode.
///
/// Per-module error reports use it: one forward with fake quantization off
/// and one with it on give the float and the quantized value at each site.
///
/// Example:
/// @code
///   struct site_names final : site_recorder {
///       std::vector<std::string> names;
///       void record(const std::string& name, const tensor&) override { names.push_back(name); }
///   } names;
///   {
///       scoped_site_recorder active(names);
///       model.forward(ids);
///   }
///   // names lists every site in the order the forward reached it
/// @endcode
class site_recorder {
public:
    virtual ~site_recorder() = default;

    /// Called once per site and forward, in forward order. An exception
    /// thrown here leaves the forward like any error raised by a site.
    virtual void record(const std::string& observer_name, const tensor& value) = 0;
};

namespace detail {

/// The recorder of the current thread. It is thread-local, so a recorder
/// receives only the sites of forwards that its own thread runs.
/// NOTE: sites reached on worker threads would bypass it; every site runs
/// on the calling thread today.
inline thread_local site_recorder* active_site_recorder = nullptr;

}  // namespace detail

/// Installs `recorder` for the current thread for the lifetime of the
/// object and restores the previous one afterwards, so scopes nest.
class scoped_site_recorder {
public:
    explicit scoped_site_recorder(site_recorder& recorder) noexcept : previous_(detail::active_site_recorder) {
        detail::active_site_recorder = &recorder;
    }
    scoped_site_recorder(const scoped_site_recorder&) = delete;
    scoped_site_recorder& operator=(const scoped_site_recorder&) = delete;
    ~scoped_site_recorder() { detail::active_site_recorder = previous_; }

private:
    site_recorder* previous_;
};

}  // namespace wrapq
