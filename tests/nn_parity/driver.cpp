// Runs wrapq's nn blocks in no_quant mode (the float32 forward) on files
// written by tests/python/nn_parity.py and writes the outputs back, so that
// the script can compare them with PyTorch.
//
// Usage: wrapq_nn_parity DIR
//
// DIR/jobs.txt lists one job per line as whitespace-separated key=value
// fields; every job has op=OP and id=ID. Every binary file is a raw
// little-endian array in row-major order: *.f32 files contain float32 values
// and *.i64 files contain int64 values. Shapes are comma-separated extents.
//
//   op=linear in=IN out=OUT bias=0|1 shape=...
//     reads ID.x.f32 (last extent IN), ID.weight.f32 (OUT, IN) and, with bias=1, ID.bias.f32 (OUT);
//     writes ID.y.f32. IN, OUT and bias must be one of the instantiations in linear_runners().
//   op=embedding vocab=V dim=D ids_shape=...
//     reads ID.ids.i64 and ID.weight.f32 (V, D); writes ID.y.f32.
//   op=scaled_embedding vocab=V dim=D ids_shape=... round_bf16=0|1
//     reads ID.ids.i64, ID.weight.f32 (V, D) and ID.scale.f32 (1 value, the constructor argument);
//     writes ID.y.f32 and ID.embed_scale.f32 (the block's embed_scale()).
//   op=rms_norm dim=D weight=0|1 eps=EPS shape=...
//     reads ID.x.f32 and, with weight=1, ID.weight.f32 (D); writes ID.y.f32.
//   op=tanh|gelu_tanh|softmax shape=...
//     reads ID.x.f32; writes ID.y.f32.
//   op=add|mul a_shape=... b_shape=...
//     reads ID.a.f32 and ID.b.f32; writes ID.y.f32 (broadcast shape).
//   op=div_scalar divisor=D shape=...
//     reads ID.x.f32; writes ID.y.f32.
//   op=softcap cap=30|0 shape=...
//     reads ID.x.f32; writes ID.y.f32 from nn::softcap<30.0f> or nn::softcap<0.0f>.
//   op=rope_inv_freq theta=T head_dim=D partial=P
//     writes ID.inv_freq.f32 (D / 2 values).
//   op=rope theta=T head_dim=D partial=P shape=S,D|S,H,D
//     reads ID.positions.i64 (S values) and ID.x.f32; writes ID.inv_freq.f32,
//     ID.cos.f32 and ID.sin.f32 (S, D) from make_rope_tables, and ID.y.f32 from apply_rope.
//   op=causal_mask q_len=Q past_len=P fill=F
//   op=sliding_window_mask q_len=Q window=W past_len=P fill=F
//     write ID.mask.f32 (Q, P + Q).
//
// Scalars (eps, divisor, theta, partial, fill) are parsed with std::strtof,
// so a decimal that round-trips a float32 value, "inf" or "-inf" arrives exactly.
//
// On success the driver prints the xsimd instruction set it was built for and
// the job count, and exits 0. Any error prints the job id and the reason to
// stderr and exits 1.

#include <wrapq.hpp>

#include "../support/driver_jobs.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace {

namespace fs = std::filesystem;
using wrapq::tensor;
using namespace wrapq_test;

/// Paths of one job's files: ID.NAME in the job directory.
struct job_files {
    fs::path dir;
    std::string id;

    fs::path operator()(const std::string& name) const { return dir / (id + "." + name); }
};

/// Throws unless the observer is still in no_quant mode, because this test
/// covers only the float path.
void require_no_quant(const wrapq::any_observer& observer, const std::string& observer_label) {
    if (observer.mode != wrapq::ptq_mode::no_quant) {
        throw std::runtime_error(observer_label + " starts in mode " + std::string(wrapq::to_string(observer.mode)) +
                                 ", expected no_quant");
    }
}

// ----------------------------------------------------------------------------
// Blocks with compile-time extents. Each runner table lists the instantiations
// that nn_parity.py requests; another extent is rejected with the list.

template <std::size_t In, std::size_t Out, bool Bias>
void run_linear(const job_files& files, const job_spec& job) {
    wrapq::nn::linear<In, Out, Bias> block;
    require_no_quant(block.act_out, "linear act_out");
    block.weight.assign(read_tensor(files("weight.f32"), {Out, In}));
    if constexpr (Bias) block.bias.assign(read_tensor(files("bias.f32"), {Out}));

    const tensor x = read_tensor(files("x.f32"), parse_shape(job.field("shape")));
    write_tensor(files("y.f32"), block.forward(x));
}

using runner = std::function<void(const job_files&, const job_spec&)>;

const std::map<std::tuple<std::size_t, std::size_t, bool>, runner>& linear_runners() {
    static const std::map<std::tuple<std::size_t, std::size_t, bool>, runner> runners{
        {{7, 5, false}, run_linear<7, 5, false>},       {{7, 5, true}, run_linear<7, 5, true>},
        {{33, 17, false}, run_linear<33, 17, false>},   {{33, 17, true}, run_linear<33, 17, true>},
        {{64, 48, false}, run_linear<64, 48, false>},   {{64, 48, true}, run_linear<64, 48, true>},
        {{1536, 24, false}, run_linear<1536, 24, false>}, {{1536, 24, true}, run_linear<1536, 24, true>},
    };
    return runners;
}

/// Reads the job's token ids from ID.ids.i64 with the shape of its ids_shape field.
wrapq::nn::token_ids read_token_ids(const job_files& files, const job_spec& job) {
    wrapq::nn::token_ids ids = xt::empty<std::int64_t>(parse_shape(job.field("ids_shape")));
    const std::vector<std::int64_t> values = read_array<std::int64_t>(files("ids.i64"), ids.size());
    std::copy(values.begin(), values.end(), ids.data());
    return ids;
}

template <std::size_t Vocab, std::size_t Dim>
void run_embedding(const job_files& files, const job_spec& job) {
    wrapq::nn::embedding<Vocab, Dim> block;
    require_no_quant(block.act_out, "embedding act_out");
    block.weight.assign(read_tensor(files("weight.f32"), {Vocab, Dim}));

    const wrapq::nn::token_ids ids = read_token_ids(files, job);
    write_tensor(files("y.f32"), block.forward(ids));
}

template <std::size_t Vocab, std::size_t Dim>
void run_scaled_embedding(const job_files& files, const job_spec& job) {
    const float scale = read_array<float>(files("scale.f32"), 1).front();
    wrapq::nn::scaled_embedding<Vocab, Dim> block(scale, job.flag_field("round_bf16"));
    require_no_quant(block.act_out, "scaled_embedding act_out");
    block.weight.assign(read_tensor(files("weight.f32"), {Vocab, Dim}));

    const wrapq::nn::token_ids ids = read_token_ids(files, job);
    write_tensor(files("y.f32"), block.forward(ids));

    const float embed_scale = block.embed_scale();
    write_array(files("embed_scale.f32"), &embed_scale, 1);
}

const std::map<std::tuple<std::size_t, std::size_t>, runner>& embedding_runners() {
    static const std::map<std::tuple<std::size_t, std::size_t>, runner> runners{
        {{50, 24}, run_embedding<50, 24>},
        {{64, 1536}, run_embedding<64, 1536>},
    };
    return runners;
}

const std::map<std::tuple<std::size_t, std::size_t>, runner>& scaled_embedding_runners() {
    static const std::map<std::tuple<std::size_t, std::size_t>, runner> runners{
        {{50, 24}, run_scaled_embedding<50, 24>},
        {{64, 1536}, run_scaled_embedding<64, 1536>},
    };
    return runners;
}

template <std::size_t Dim, bool WithWeight>
void run_rms_norm(const job_files& files, const job_spec& job) {
    wrapq::nn::rms_norm<Dim, WithWeight> block(job.float_field("eps"));
    require_no_quant(block.act_out, "rms_norm act_out");
    if constexpr (WithWeight) block.weight.assign(read_tensor(files("weight.f32"), {Dim}));

    const tensor x = read_tensor(files("x.f32"), parse_shape(job.field("shape")));
    write_tensor(files("y.f32"), block.forward(x));
}

const std::map<std::tuple<std::size_t, bool>, runner>& rms_norm_runners() {
    static const std::map<std::tuple<std::size_t, bool>, runner> runners{
        {{16, true}, run_rms_norm<16, true>},     {{16, false}, run_rms_norm<16, false>},
        {{256, true}, run_rms_norm<256, true>},   {{256, false}, run_rms_norm<256, false>},
        {{1536, true}, run_rms_norm<1536, true>},
    };
    return runners;
}

/// Lists the instantiated parameter tuples, such as "(7, 5, 0), (7, 5, 1)".
template <class Key>
std::string describe_keys(const std::map<Key, runner>& runners) {
    std::string text;
    for (const auto& entry : runners) {
        std::string tuple;
        std::apply([&](const auto&... value) { ((tuple += (tuple.empty() ? "" : ", ") + std::to_string(value)), ...); },
                   entry.first);
        text += (text.empty() ? "(" : ", (") + tuple + ")";
    }
    return text;
}

template <class Key>
void dispatch(const std::map<Key, runner>& runners, const Key& key, const std::string& parameters,
              const job_files& files, const job_spec& job) {
    const auto it = runners.find(key);
    if (it == runners.end()) {
        throw std::runtime_error(job.field("op") + " is not instantiated for " + parameters + "; the driver supports " +
                                 describe_keys(runners) + ", so add the instantiation to driver.cpp");
    }
    it->second(files, job);
}

// ----------------------------------------------------------------------------
// Blocks and functions without compile-time extents.

template <class Block>
void run_unary(const job_files& files, const job_spec& job, Block block) {
    const tensor x = read_tensor(files("x.f32"), parse_shape(job.field("shape")));
    write_tensor(files("y.f32"), block.forward(x));
}

template <class Block>
void run_binary(const job_files& files, const job_spec& job, Block block) {
    require_no_quant(block.act_out, job.field("op") + " act_out");
    const tensor a = read_tensor(files("a.f32"), parse_shape(job.field("a_shape")));
    const tensor b = read_tensor(files("b.f32"), parse_shape(job.field("b_shape")));
    write_tensor(files("y.f32"), block.forward(a, b));
}

void run_softcap(const job_files& files, const job_spec& job) {
    const std::string& cap = job.field("cap");
    if (cap == "30") {
        wrapq::nn::softcap<30.0f> block;
        require_no_quant(block.logits_observer, "softcap<30> logits");
        run_unary(files, job, block);
    } else if (cap == "0") {
        wrapq::nn::softcap<0.0f> block;
        require_no_quant(block.logits_observer, "softcap<0> logits");
        run_unary(files, job, block);
    } else {
        throw std::runtime_error("softcap is not instantiated for cap=" + cap + "; the driver supports 30 and 0");
    }
}

void run_rope_inv_freq(const job_files& files, const job_spec& job) {
    const std::vector<float> inv_freq =
        wrapq::nn::rope_inv_freq(job.float_field("theta"), job.size_field("head_dim"), job.float_field("partial"));
    write_array(files("inv_freq.f32"), inv_freq.data(), inv_freq.size());
}

void run_rope(const job_files& files, const job_spec& job) {
    const std::vector<float> inv_freq =
        wrapq::nn::rope_inv_freq(job.float_field("theta"), job.size_field("head_dim"), job.float_field("partial"));
    write_array(files("inv_freq.f32"), inv_freq.data(), inv_freq.size());

    const std::vector<std::size_t> shape = parse_shape(job.field("shape"));
    const std::vector<std::int64_t> stored = read_array<std::int64_t>(files("positions.i64"), shape.front());
    std::vector<std::size_t> positions;
    for (const std::int64_t p : stored) {
        if (p < 0) throw std::runtime_error("position " + std::to_string(p) + " is negative");
        positions.push_back(static_cast<std::size_t>(p));
    }

    const wrapq::nn::rope_tables tables = wrapq::nn::make_rope_tables(inv_freq, positions);
    write_tensor(files("cos.f32"), tables.cos);
    write_tensor(files("sin.f32"), tables.sin);

    const tensor x = read_tensor(files("x.f32"), shape);
    write_tensor(files("y.f32"), wrapq::nn::apply_rope(x, tables));
}

void run_job(const fs::path& dir, const job_spec& job) {
    namespace nn = wrapq::nn;
    const job_files files{dir, job.id};
    const std::string& op = job.field("op");

    if (op == "linear") {
        const auto in = job.size_field("in");
        const auto out = job.size_field("out");
        const bool bias = job.flag_field("bias");
        dispatch(linear_runners(), std::tuple{in, out, bias},
                 "in=" + std::to_string(in) + " out=" + std::to_string(out) + " bias=" + std::to_string(bias), files, job);
    } else if (op == "embedding" || op == "scaled_embedding") {
        const auto vocab = job.size_field("vocab");
        const auto dim = job.size_field("dim");
        dispatch(op == "embedding" ? embedding_runners() : scaled_embedding_runners(), std::tuple{vocab, dim},
                 "vocab=" + std::to_string(vocab) + " dim=" + std::to_string(dim), files, job);
    } else if (op == "rms_norm") {
        const auto dim = job.size_field("dim");
        const bool weight = job.flag_field("weight");
        dispatch(rms_norm_runners(), std::tuple{dim, weight},
                 "dim=" + std::to_string(dim) + " weight=" + std::to_string(weight), files, job);
    } else if (op == "tanh") {
        nn::tanh_block block;
        require_no_quant(block.act_out, "tanh_block act_out");
        run_unary(files, job, block);
    } else if (op == "gelu_tanh") {
        nn::gelu_tanh_block block;
        require_no_quant(block.act_out, "gelu_tanh_block act_out");
        run_unary(files, job, block);
    } else if (op == "softmax") {
        nn::softmax block;
        require_no_quant(block.act_out, "softmax act_out");
        run_unary(files, job, block);
    } else if (op == "div_scalar") {
        nn::div_scalar block(job.float_field("divisor"));
        require_no_quant(block.act_out, "div_scalar act_out");
        run_unary(files, job, block);
    } else if (op == "add") {
        run_binary(files, job, nn::add{});
    } else if (op == "mul") {
        run_binary(files, job, nn::mul{});
    } else if (op == "softcap") {
        run_softcap(files, job);
    } else if (op == "rope_inv_freq") {
        run_rope_inv_freq(files, job);
    } else if (op == "rope") {
        run_rope(files, job);
    } else if (op == "causal_mask") {
        write_tensor(files("mask.f32"),
                     nn::causal_mask(job.size_field("q_len"), job.size_field("past_len"), job.float_field("fill")));
    } else if (op == "sliding_window_mask") {
        write_tensor(files("mask.f32"), nn::sliding_window_mask(job.size_field("q_len"), job.size_field("window"),
                                                                job.size_field("past_len"), job.float_field("fill")));
    } else {
        throw std::runtime_error("invalid op '" + op +
                                 "'; use linear, embedding, scaled_embedding, rms_norm, tanh, gelu_tanh, softmax, "
                                 "div_scalar, add, mul, softcap, rope_inv_freq, rope, causal_mask or sliding_window_mask");
    }
}

}  // namespace

int main(int argc, char** argv) {
    return run_job_file(argc, argv, "wrapq_nn_parity", "tests/python/nn_parity.py", run_job);
}
