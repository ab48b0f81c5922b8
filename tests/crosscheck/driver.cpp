// Runs wrapq observers and fake quantization on files written by
// tests/python/torch_crosscheck.py and writes the results back, so that the
// script can compare them with PyTorch bit for bit.
//
// Usage: wrapq_crosscheck DIR
//
// DIR/jobs.txt lists one job per line as whitespace-separated key=value
// fields. Every binary file is a raw little-endian array in row-major order:
// *.f32 files contain float32 values and *.i32 files contain int32 values.
//
//   op=observe id=ID dtype=DTYPE scheme=QSCHEME axis=A shape=D0,D1,... batches=N momentum=M
//     reads   ID.batch0.f32 ... ID.batch<N-1>.f32 and ID.input.f32, all of the same shape;
//     runs    three observers on the batches: minmax, ema_pytorch (ema_form::pytorch)
//             and ema_tico (ema_form::tico), both EMA observers with momentum M;
//     writes  for each observer NAME: ID.NAME.min.f32 and ID.NAME.max.f32 (observed range),
//             ID.NAME.scale.f32 and ID.NAME.zp.i32 (compute_qparams), ID.NAME.fq_observer.f32
//             (observer.fake_quantize of the input), ID.NAME.fq_function.f32
//             (wrapq::fake_quantize of the input with the observer's qparams) and
//             ID.NAME.meta.txt ("axis=<normalized axis or none> observed=<count> nonfinite=<count>").
//
//   op=fake_quantize id=ID dtype=DTYPE axis=A|none shape=D0,D1,...
//     reads   ID.scale.f32, ID.zp.i32 and ID.input.f32;
//     writes  ID.fq_function.f32, wrapq::fake_quantize of the input with those
//             qparams (per-tensor when axis=none, else per-channel along A).
//
// DTYPE is uint4, int4, uint8, int8 or int16. QSCHEME is a name printed by
// wrapq::to_string(qscheme), such as per_channel_asymm.
//
// On success the driver prints the xsimd instruction set it was built for and
// the job count, and exits 0. Any error prints the job id and the reason to
// stderr and exits 1.

#include <wrapq.hpp>

#include "../support/driver_jobs.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace wrapq_test;

wrapq::dtype parse_dtype(const std::string& name) {
    for (const wrapq::dtype d : {wrapq::uint4, wrapq::int4, wrapq::uint8, wrapq::int8, wrapq::int16}) {
        if (d.name() == name) return d;
    }
    throw std::runtime_error("unsupported dtype '" + name + "'; use uint4, int4, uint8, int8 or int16");
}

wrapq::qscheme parse_qscheme(const std::string& name) {
    for (const wrapq::qscheme s : {wrapq::qscheme::per_tensor_asymm, wrapq::qscheme::per_tensor_symm,
                                   wrapq::qscheme::per_channel_asymm, wrapq::qscheme::per_channel_symm}) {
        if (wrapq::to_string(s) == name) return s;
    }
    throw std::runtime_error("invalid qscheme '" + name +
                             "'; use per_tensor_asymm, per_tensor_symm, per_channel_asymm or per_channel_symm");
}

/// Writes the range and qparams of a calibrated observer and its two fake-quantized copies of `input`.
template <class Observer>
void write_observer_results(const fs::path& prefix, Observer& observer, const wrapq::tensor& input) {
    const wrapq::qparams params = observer.compute_qparams();
    const wrapq::tensor fq_observer = observer.fake_quantize(input);
    const wrapq::tensor fq_function = wrapq::fake_quantize(input, params);

    const std::string base = prefix.string();
    write_array(base + ".min.f32", observer.min_val());
    write_array(base + ".max.f32", observer.max_val());
    write_array(base + ".scale.f32", params.scale);
    write_array(base + ".zp.i32", params.zero_point);
    write_array(base + ".fq_observer.f32", fq_observer.data(), fq_observer.size());
    write_array(base + ".fq_function.f32", fq_function.data(), fq_function.size());

    std::ofstream meta(base + ".meta.txt");
    meta << "axis=" << (params.axis ? std::to_string(*params.axis) : std::string("none"))
         << " observed=" << observer.observed_count() << " nonfinite=" << observer.nonfinite_count() << '\n';
    if (!meta) throw std::runtime_error("failed to write " + base + ".meta.txt");
}

template <wrapq::dtype D, wrapq::qscheme S>
void run_observe_job(const fs::path& dir, const job_spec& job) {
    if constexpr (!wrapq::is_valid_pairing(D, S)) {
        throw std::runtime_error(D.name() + " cannot use the qscheme " + std::string(wrapq::to_string(S)));
    } else {
        const int axis = std::stoi(job.field("axis"));
        const double momentum = std::stod(job.field("momentum"));
        const std::vector<std::size_t> shape = parse_shape(job.field("shape"));
        const int batches = std::stoi(job.field("batches"));

        wrapq::minmax_observer<D, S> minmax({}, axis);
        wrapq::ema_observer<D, S> ema_pytorch(wrapq::ema_options{.momentum = momentum, .form = wrapq::ema_form::pytorch},
                                              axis);
        wrapq::ema_observer<D, S> ema_tico(wrapq::ema_options{.momentum = momentum, .form = wrapq::ema_form::tico},
                                           axis);

        for (int b = 0; b < batches; ++b) {
            const wrapq::tensor batch = read_tensor(dir / (job.id + ".batch" + std::to_string(b) + ".f32"), shape);
            minmax.observe(batch);
            ema_pytorch.observe(batch);
            ema_tico.observe(batch);
        }

        const wrapq::tensor input = read_tensor(dir / (job.id + ".input.f32"), shape);
        write_observer_results(dir / (job.id + ".minmax"), minmax, input);
        write_observer_results(dir / (job.id + ".ema_pytorch"), ema_pytorch, input);
        write_observer_results(dir / (job.id + ".ema_tico"), ema_tico, input);
    }
}

/// Instantiates run_observe_job for the qscheme known only at run time.
template <wrapq::dtype D>
void dispatch_qscheme(wrapq::qscheme scheme, const fs::path& dir, const job_spec& job) {
    switch (scheme) {
        case wrapq::qscheme::per_tensor_asymm:
            return run_observe_job<D, wrapq::qscheme::per_tensor_asymm>(dir, job);
        case wrapq::qscheme::per_tensor_symm:
            return run_observe_job<D, wrapq::qscheme::per_tensor_symm>(dir, job);
        case wrapq::qscheme::per_channel_asymm:
            return run_observe_job<D, wrapq::qscheme::per_channel_asymm>(dir, job);
        case wrapq::qscheme::per_channel_symm:
            return run_observe_job<D, wrapq::qscheme::per_channel_symm>(dir, job);
    }
    throw std::runtime_error("invalid qscheme value " + std::to_string(static_cast<int>(scheme)));
}

/// Instantiates run_observe_job for the dtype and qscheme known only at run time.
void dispatch_observe_job(const fs::path& dir, const job_spec& job) {
    const wrapq::dtype type = parse_dtype(job.field("dtype"));
    const wrapq::qscheme scheme = parse_qscheme(job.field("scheme"));
    if (type == wrapq::uint4) return dispatch_qscheme<wrapq::uint4>(scheme, dir, job);
    if (type == wrapq::int4) return dispatch_qscheme<wrapq::int4>(scheme, dir, job);
    if (type == wrapq::uint8) return dispatch_qscheme<wrapq::uint8>(scheme, dir, job);
    if (type == wrapq::int8) return dispatch_qscheme<wrapq::int8>(scheme, dir, job);
    return dispatch_qscheme<wrapq::int16>(scheme, dir, job);
}

void run_fake_quantize_job(const fs::path& dir, const job_spec& job) {
    const wrapq::dtype type = parse_dtype(job.field("dtype"));
    const std::vector<std::size_t> shape = parse_shape(job.field("shape"));
    const std::string& axis = job.field("axis");
    const wrapq::tensor input = read_tensor(dir / (job.id + ".input.f32"), shape);

    const std::size_t channels = axis == "none" ? 1 : shape.at(wrapq::normalize_axis(std::stoi(axis), shape.size()));
    std::vector<float> scale = read_array<float>(dir / (job.id + ".scale.f32"), channels);
    std::vector<std::int32_t> zero_point = read_array<std::int32_t>(dir / (job.id + ".zp.i32"), channels);
    const wrapq::qparams params =
        axis == "none" ? wrapq::qparams::per_tensor(scale[0], zero_point[0], type)
                       : wrapq::qparams::per_channel(std::move(scale), std::move(zero_point), std::stoi(axis), type);

    const wrapq::tensor output = wrapq::fake_quantize(input, params);
    write_array(dir / (job.id + ".fq_function.f32"), output.data(), output.size());
}

}  // namespace

int main(int argc, char** argv) {
    return run_job_file(argc, argv, "wrapq_crosscheck", "tests/python/torch_crosscheck.py",
                        [](const fs::path& dir, const job_spec& job) {
                            const std::string& op = job.field("op");
                            if (op == "observe") {
                                dispatch_observe_job(dir, job);
                            } else if (op == "fake_quantize") {
                                run_fake_quantize_job(dir, job);
                            } else {
                                throw std::runtime_error("invalid op '" + op + "'; use observe or fake_quantize");
                            }
                        });
}
