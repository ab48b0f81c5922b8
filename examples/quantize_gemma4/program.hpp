// examples/quantize_gemma4/program.hpp: the whole job for one compiled Gemma 4 shape.
#pragma once

#include "../command_line.hpp"
#include "builtin_inputs.hpp"
#include "evaluation.hpp"
#include "image_inputs.hpp"
#include "interrupt.hpp"
#include "options.hpp"
#include "progress.hpp"
#include "report.hpp"
#include "staging.hpp"

#include <wrapq.hpp>
#include <wrapq/core/perplexity.hpp>
#include <wrapq/data.hpp>
#include <wrapq/io/atomic_write.hpp>
#include <wrapq/io/safetensors_checkpoint.hpp>
#include <wrapq/models/gemma4/checkpoint.hpp>
#include <wrapq/models/gemma4/hf_config.hpp>
#include <wrapq/module/ptq_config_json.hpp>
#include <wrapq/report.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <type_traits>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace quantize_gemma4 {

using sample_list = std::vector<std::vector<std::int32_t>>;

/// The model the program quantizes: Gemma4ForConditionalGeneration for a
/// configuration with a vision tower, Gemma4ForCausalLM for text only.
template <auto C>
using model_type = std::conditional_t<wrapq::gemma4::has_vision<C>, wrapq::gemma4::for_conditional_generation<C>,
                                      wrapq::gemma4::for_causal_lm<C>>;

/// Reads a whole text file. Throws wrapq::io_error naming the file and the
/// option it came from when it cannot be read.
inline std::string read_text_file(const fs::path& path, std::string_view option) {
    if (fs::is_directory(path)) {
        throw wrapq::io_error(std::string(option) + " " + path.string() + " is a directory; pass a file");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw wrapq::io_error(std::string(option) + " " + path.string() + ": cannot open the file for reading" +
                              (fs::exists(path) ? "" : " (it does not exist)") + "; pass a readable UTF-8 text file");
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

/// The tokenizer for text inputs and where it came from.
struct tokenizer_choice {
    std::optional<wrapq::text::bpe_tokenizer> tokenizer;
    std::string description = "none";
};

/// Samples of one purpose (calibration or evaluation) and their sources.
struct sample_set {
    sample_list samples;
    std::vector<std::string> sources;
    std::size_t tokens = 0;
};

/// Returns `samples` after checking that every id is inside the model's
/// vocabulary. A tokenizer may know more tokens than a model embeds (Gemma
/// 3's file has 262145, the last an image placeholder), so text can produce
/// an id that the embedding table has no row for.
inline sample_list checked_ids(sample_list samples, const tokenizer_choice& tok, std::size_t vocab_size,
                               const std::string& source) {
    for (const auto& sample : samples) {
        for (const std::int32_t id : sample) {
            if (id >= 0 && static_cast<std::size_t>(id) < vocab_size) continue;
            throw wrapq::invalid_argument(source + ": the tokenizer " + tok.description + " produced token " +
                                          std::to_string(id) + " (" + tok.tokenizer->token_text(id) +
                                          "), but the model's vocabulary has " + std::to_string(vocab_size) +
                                          " tokens; use the tokenizer.json that belongs to the checkpoint");
        }
    }
    return samples;
}

/// Collects up to `count` samples from text files, token-id files or,
/// without either, the built-in text. Fewer available samples than
/// requested is a warning; none is an error.
inline sample_set collect_samples(std::string_view purpose, const std::vector<fs::path>& text_files,
                                  const std::vector<fs::path>& id_files, std::string_view builtin_text,
                                  const tokenizer_choice& tok, std::size_t vocab_size, const settings& s, std::size_t count) {
    sample_set out;
    const std::string text_option = purpose == "calibration" ? "--calibration-text" : "--eval-text";
    const std::string ids_option = purpose == "calibration" ? "--calibration-ids" : "--eval-ids";

    auto need_tokenizer = [&](const std::string& source) -> const wrapq::text::bpe_tokenizer& {
        if (!tok.tokenizer) {
            throw wrapq::invalid_argument(std::string(purpose) + " text " + source +
                                          " needs a tokenizer, but the checkpoint directory has no tokenizer.json; "
                                          "pass --tokenizer FILE, or token ids with " + ids_option);
        }
        return *tok.tokenizer;
    };
    auto add = [&](sample_list more, const std::string& source) {
        for (auto& m : more) {
            if (out.samples.size() == count) break;
            out.tokens += m.size();
            out.samples.push_back(std::move(m));
        }
        out.sources.push_back(source);
    };

    for (const fs::path& file : text_files) {
        if (out.samples.size() == count) break;
        const std::string text = read_text_file(file, text_option);
        const wrapq::data::sample_options options{.num_samples = count - out.samples.size(),
                                                  .seq_len = static_cast<std::size_t>(s.seq_len),
                                                  .chat_template = s.chat_template,
                                                  .source = file.string()};
        add(checked_ids(wrapq::data::text_samples(need_tokenizer(file.string()), text, options), tok, vocab_size,
                        file.string()),
            file.string());
    }
    for (const fs::path& file : id_files) {
        if (out.samples.size() == count) break;
        const std::string text = read_text_file(file, ids_option);
        const wrapq::data::sample_options options{.num_samples = count - out.samples.size(),
                                                  .seq_len = static_cast<std::size_t>(s.seq_len),
                                                  .source = file.string()};
        add(wrapq::data::token_id_samples(text, vocab_size, options), file.string());
    }
    if (text_files.empty() && id_files.empty()) {
        const std::string source = "built-in " + std::string(purpose) + " text";
        const wrapq::data::sample_options options{.num_samples = count,
                                                  .seq_len = static_cast<std::size_t>(s.seq_len),
                                                  .chat_template = s.chat_template,
                                                  .source = source};
        add(checked_ids(wrapq::data::text_samples(need_tokenizer(source), builtin_text, options), tok, vocab_size, source),
            source);
    }

    // A warning, so --quiet does not hide it.
    if (out.samples.size() < count) {
        std::cerr << "note: the " << purpose << " input yields " << out.samples.size()
                  << (out.samples.size() == 1 ? " sample" : " samples") << " of up to " << s.seq_len
                  << " tokens, fewer than the " << count << " requested; using " << out.samples.size() << "\n";
    }
    return out;
}

/// Chooses the tokenizer: --tokenizer, else tokenizer.json beside the
/// checkpoint, else the built-in character tokenizer for generated weights.
inline tokenizer_choice choose_tokenizer(const settings& s) {
    tokenizer_choice out;
    std::optional<fs::path> path = s.tokenizer;
    if (!path && s.checkpoint) {
        const fs::path dir = fs::is_directory(*s.checkpoint) ? *s.checkpoint : s.checkpoint->parent_path();
        if (fs::exists(dir / "tokenizer.json")) path = dir / "tokenizer.json";
    }
    if (s.tokenizer && !fs::is_regular_file(*s.tokenizer)) {
        throw wrapq::io_error("--tokenizer " + s.tokenizer->string() + " is not a readable file" +
                              (fs::exists(*s.tokenizer) ? "" : " (it does not exist)") +
                              "; pass the tokenizer.json of the checkpoint");
    }
    if (path) {
        out.tokenizer = wrapq::text::bpe_tokenizer::from_file(*path);
        out.description = path->string();
    } else if (!s.checkpoint) {
        out.tokenizer = wrapq::text::bpe_tokenizer::from_json(builtin_tokenizer_json(), "built-in tokenizer");
        out.description = "built-in character tokenizer";
    }
    return out;
}

/// Loads the checkpoint into `lm`, or fills it with random weights.
/// Returns the description for the report. Audio tensors in the checkpoint
/// are counted in a note, because the audio tower is not part of the model.
template <auto C>
std::string load_weights(model_type<C>& lm, const settings& s) {
    if (!s.checkpoint) {
        wrapq::gemma4::fill_random_weights(lm, s.seed);
        lm.tie_lm_head();
        return "generated (random weights, seed " + std::to_string(s.seed) + ")";
    }

    const fs::path& path = *s.checkpoint;
    if (!fs::exists(path)) {
        throw wrapq::io_error("--checkpoint " + path.string() +
                              " does not exist; pass a Hugging Face checkpoint directory or a .safetensors file");
    }
    const fs::path dir = fs::is_directory(path) ? path : path.parent_path();
    const fs::path config_json = (dir.empty() ? fs::path(".") : dir) / "config.json";
    if (fs::exists(config_json)) {
        wrapq::gemma4::check_hf_config<C>(config_json);
    } else if (fs::is_directory(path)) {
        throw wrapq::io_error("--checkpoint " + path.string() +
                              ": config.json is missing; a Hugging Face checkpoint directory has config.json beside "
                              "its safetensors files");
    } else if (!s.quiet) {
        std::cerr << "note: no config.json beside " << path.string()
                  << "; only the tensor shapes are checked against the compiled model\n";
    }

    const auto checkpoint = wrapq::io::safetensors_checkpoint::open(path);
    const wrapq::io::bind_report report = wrapq::gemma4::load_checkpoint(lm, checkpoint, {.borrow_bf16 = true});
    if constexpr (wrapq::gemma4::has_vision<C>) {
        std::size_t audio = 0;
        for (const std::string& name : report.ignored) audio += wrapq::gemma4::is_audio_tensor(name) ? 1 : 0;
        if (audio > 0) {
            std::cerr << "note: the checkpoint's audio tower (" << audio
                      << " tensors) is not loaded, quantized or exported: the reference keeps it in float outside "
                         "the quantized model, and audio input is not supported\n";
        }
    }
    return path.string();
}

/// Builds the quantization config: the recipe, then the JSON overrides.
inline wrapq::ptq_config quantization_config(const settings& s) {
    using namespace wrapq;
    ptq_config config = s.recipe == "shipped"
                            ? gemma4::e2b_ptq_config({.linear = uint4, .lm_head = uint8, .embedding = uint8, .norm = int16,
                                                      .vision_patch_embed = uint8})
                            : gemma4::e2b_ptq_config({.embedding = int16});
    if (s.recipe == "int16") {
        // int16 tables must be symmetric to be exported (a Circle int16 zero point must be 0).
        for (override_rule& rule : config.overrides) {
            if (rule.pattern.find("embed_tokens") != std::string::npos) rule.spec = quant_spec::affine(int16, qscheme::per_channel_symm);
        }
    }
    if (s.quant_config) {
        if (!fs::is_regular_file(*s.quant_config)) {
            throw io_error("--quant-config " + s.quant_config->string() +
                           (fs::exists(*s.quant_config) ? " is not a regular file" : " does not exist") +
                           "; pass a JSON file of overrides (see docs/quantize_gemma4.md)");
        }
        config = read_ptq_config_json(*s.quant_config, std::move(config));
    }
    return config;
}

/// Throws invalid_argument before calibration when an observer's kind cannot
/// be exported, so a long calibration is not wasted on a config that fails
/// at export.
template <class LM>
void reject_unexportable(LM& lm) {
    for (const wrapq::observer_record& r : wrapq::collect_report(lm)) {
        if (r.kind != "mx") continue;
        throw wrapq::invalid_argument("observer " + r.name +
                                      " is an MX observer, which Circle export does not support yet; use an affine "
                                      "observer for it, or pass --graphs none to calibrate and report only");
    }
}

/// Returns the .circle files in `dir` that this run did not write.
inline std::vector<std::string> foreign_graphs(const fs::path& dir, const std::vector<std::string>& written) {
    std::vector<std::string> out;
    std::error_code ignored;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir, ignored)) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() != ".circle") continue;
        if (std::find(written.begin(), written.end(), name) == written.end()) out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
}

/// Writes the selected graphs of `lm` into `dir` and returns their file names.
/// The vision graph needs calibrated vision sites, so it is written only
/// when calibration had images (`vision_calibrated`).
template <auto C>
std::vector<std::string> write_graphs(model_type<C>& lm, const settings& s, const fs::path& dir, bool vision_calibrated) {
    namespace gemma4 = wrapq::gemma4;
    constexpr auto T = gemma4::text_part<C>();
    auto& text = gemma4::exporting::text_of(lm);
    std::vector<std::string> names;
    const std::size_t max_seq = static_cast<std::size_t>(s.max_seq.value_or(s.seq_len));
    const gemma4::export_options options{.max_seq = max_seq, .stream_weights = true, .sample_seed = s.seed};

    // std::function rather than a generic lambda: one copy of this for every
    // graph, of which there are two per decoder layer.
    auto write = [&](const std::string& name, const std::function<wrapq::exporter::exported_graph()>& make) {
        check_interrupt();
        const wrapq::exporter::exported_graph graph = make();
        wrapq::exporter::write_exported(graph, dir / (name + ".circle"));
        names.push_back(name + ".circle");
    };

    for (const auto mode : {gemma4::export_mode::prefill, gemma4::export_mode::decode}) {
        if (mode == gemma4::export_mode::prefill ? !s.graphs.prefill : !s.graphs.decode) continue;
        const std::string suffix = "_" + std::string(gemma4::to_string(mode));
        if constexpr (gemma4::has_vision<C>) {
            if (s.graphs.vision && mode == gemma4::export_mode::prefill && vision_calibrated) {
                const auto [rows, columns] = vision_grid<C.vision>(s);
                const auto positions = gemma4::exporting::profile_positions(rows, columns, C.vision.max_patches());
                write("vision_prefill", [&] { return gemma4::vision_graph(lm, positions, options); });
            }
        }
        if (s.graphs.embedding) write("token_embedding" + suffix, [&] { return gemma4::embedding_graph(text, mode, options); });
        if (s.graphs.layers) {
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                (write("decoder_layer_" + std::to_string(I) + suffix,
                       [&] { return gemma4::layer_graph<I>(text, mode, options); }),
                 ...);
            }(std::make_index_sequence<decltype(T)::num_layers>{});
        }
        if (s.graphs.head) write("lm_head" + suffix, [&] { return gemma4::head_graph(lm, mode, options); });
        if (s.graphs.model) write("text_model" + suffix, [&] { return gemma4::text_graph(lm, mode, options); });
    }
    return names;
}

/// Runs the program for the compiled shape C; returns the exit status.
template <auto C>
int run(int argc, char** argv, std::string_view program, std::string_view config_name) {
    const std::string usage = usage_line(program);
    const examples::command_line cli{program, usage};
    constexpr auto T = wrapq::gemma4::text_part<C>();
    const settings s = parse_arguments(argc, argv, cli, config_name, T.max_position_embeddings);
    install_interrupt_handlers();

    try {
        // Also reads WRAPQ_NUM_THREADS when --threads is absent, so a bad value fails before any work.
        if (s.threads) wrapq::parallel::set_num_threads(static_cast<std::size_t>(*s.threads));
        else (void)wrapq::parallel::num_threads();

        // The output directory is created first, so a bad --out fails before any work.
        std::optional<staging_area> staging_slot;
        try {
            staging_slot.emplace(s.out);
        } catch (const fs::filesystem_error& e) {
            throw wrapq::io_error("--out " + s.out.string() + ": cannot create the output directory or a directory in it (" +
                                  e.code().message() + "); pass a directory you can write to");
        }
        staging_area& staging = *staging_slot;

        run_description run;
        run.program = std::string(program);
        run.config_name = std::string(config_name);
        run.recipe = s.recipe;
        run.quant_config = s.quant_config ? s.quant_config->string() : "";
        run.seq_len = static_cast<std::size_t>(s.seq_len);
        run.chat_template = s.chat_template;

        // The config is read before the weights, so a typo in it costs no loading time.
        const wrapq::ptq_config config = quantization_config(s);

        // Image options are checked before any work, so a mistake costs no calibration.
        const bool vision_only = s.graphs.vision && !s.graphs.head && !s.graphs.layers && !s.graphs.embedding &&
                                 !s.graphs.model;
        if constexpr (wrapq::gemma4::has_vision<C>) {
            const auto [rows, columns] = vision_grid<C.vision>(s);
            check_grid<C.vision>(rows, columns);
            run.vision_grid = std::to_string(rows) + "x" + std::to_string(columns);
            if (vision_only && (s.calibration_images.empty() || !s.graphs.prefill)) {
                throw wrapq::invalid_argument(
                    "--graphs vision selects only the vision graph, which needs " +
                    std::string(s.calibration_images.empty() ? "--calibration-images to calibrate the tower"
                                                              : "--modes prefill (it has no decode form)") +
                    "; add it, or select other graphs too");
            }
        } else {
            const char* option = !s.calibration_images.empty() ? "--calibration-images"
                                 : !s.eval_images.empty()     ? "--eval-images"
                                 : s.vision_grid              ? "--vision-grid"
                                 : vision_only                ? "--graphs vision"
                                                              : nullptr;
            if (option != nullptr) {
                throw wrapq::invalid_argument(std::string(option) + " needs a vision tower, but this program is compiled "
                                              "for the text-only shape " + std::string(config_name) +
                                              "; use a program built for a shape with vision "
                                              "(quantize_gemma4_tiny_full_vocab_vision, for example)");
            }
        }
        // Phase timings for the summary; the benchmarks of docs/benchmarks.md read them.
        auto phase_start = std::chrono::steady_clock::now();
        auto end_phase = [&](const char* phase) {
            const auto now = std::chrono::steady_clock::now();
            run.phase_seconds.emplace_back(phase, std::chrono::duration<double>(now - phase_start).count());
            phase_start = now;
        };
        auto lm = std::make_unique<model_type<C>>();
        run.checkpoint = load_weights<C>(*lm, s);
        end_phase("load");

        const tokenizer_choice tok = choose_tokenizer(s);
        run.tokenizer = tok.description;
        const sample_set calibration =
            collect_samples("calibration", s.calibration_text, s.calibration_ids, builtin_calibration_text, tok,
                            T.vocab_size, s, static_cast<std::size_t>(s.samples));
        const sample_set held_out = collect_samples("evaluation", s.eval_text, s.eval_ids, builtin_eval_text, tok,
                                                    T.vocab_size, s, static_cast<std::size_t>(s.eval_samples));
        std::vector<image_sample> calibration_images, eval_images;
        if constexpr (wrapq::gemma4::has_vision<C>) {
            const wrapq::text::bpe_tokenizer* text_tokenizer = tok.tokenizer ? &*tok.tokenizer : nullptr;
            calibration_images = collect_image_samples<C.vision>(s.calibration_images, "--calibration-images",
                                                                 text_tokenizer, C.tokens, T.vocab_size, s);
            eval_images = collect_image_samples<C.vision>(s.eval_images, "--eval-images", text_tokenizer, C.tokens,
                                                          T.vocab_size, s);
            // A note, so --quiet does not hide it.
            if (calibration_images.empty() && s.graphs.vision) {
                std::cerr << "note: no --calibration-images, so the vision tower's activations are not calibrated: "
                             "they stay in float and the vision graph is not written\n";
            }
        }
        run.calibration_images = calibration_images.size();
        for (const fs::path& list : s.calibration_images) run.calibration_sources.push_back(list.string());
        for (const fs::path& list : s.eval_images) run.eval_sources.push_back(list.string());
        std::size_t scored = 0;
        for (const auto& sample : held_out.samples) scored += sample.size() > 1 ? sample.size() - 1 : 0;
        if (scored == 0) {
            throw wrapq::invalid_argument("every held-out sample has fewer than 2 tokens, so no token can be scored; "
                                          "give held-out samples of at least 2 tokens (the first predicts the second)");
        }
        run.calibration_sources.insert(run.calibration_sources.begin(), calibration.sources.begin(), calibration.sources.end());
        run.eval_sources.insert(run.eval_sources.begin(), held_out.sources.begin(), held_out.sources.end());
        run.calibration_samples = calibration.samples.size();
        run.calibration_tokens = calibration.tokens;
        if (!s.quiet) {
            std::cout << program << ": model " << config_name << ", checkpoint " << run.checkpoint << ", tokenizer "
                      << run.tokenizer << "\n";
        }

        phase_start = std::chrono::steady_clock::now();  // not the tokenizer and input reading
        wrapq::prepare(*lm, config);
        if (s.graphs.any()) reject_unexportable(*lm);
        end_phase("prepare");
        {
            progress_bar bar("calibration", calibration.samples.size(), !s.quiet);
            for (const auto& sample : calibration.samples) {
                check_interrupt();
                lm->forward(to_token_ids(sample));
                bar.advance(sample.size());
            }
        }
        end_phase("calibration");
        if constexpr (wrapq::gemma4::has_vision<C>) {
            progress_bar bar("images     ", calibration_images.size(), !s.quiet);
            for (const image_sample& sample : calibration_images) {
                check_interrupt();
                lm->forward(to_token_ids(sample.ids), {sample.image});
                bar.advance(sample.ids.size());
            }
        }
        // Sites that calibration does not reach stay in float: inputs_embeds
        // of a text-only model, and the vision tower without images.
        if constexpr (wrapq::gemma4::has_vision<C>) {
            if (!calibration_images.empty()) end_phase("images");
        }
        wrapq::convert(*lm, {.skip_uncalibrated = true});
        end_phase("convert");

        const evaluation eval = evaluate(*lm, held_out.samples, T.vocab_size, 20000, !s.quiet, &eval_images);
        end_phase("evaluation");

        run.graphs = write_graphs<C>(*lm, s, staging.path(), !calibration_images.empty());
        end_phase("export");
        if (s.write_report) {
            check_interrupt();
            std::ostringstream json;
            write_report(json, run, eval, wrapq::collect_report(*lm));
            wrapq::io::write_file_atomically(staging.path() / "report.json", json.str());
        }
        if (s.write_plot) {
            check_interrupt();
            const std::string svg = wrapq::report::svg_scatter(
                eval.float_points, eval.quantized_points,
                {.title = "Logits of " + std::string(config_name) + ": float vs quantized (" +
                          std::to_string(eval.samples) + " held-out samples)",
                 .x_label = "float logit",
                 .y_label = "quantized logit",
                 .max_points = 5000});
            wrapq::io::write_file_atomically(staging.path() / "logits.svg", svg);
        }

        // From here on nothing checks for Ctrl-C: the renames take microseconds.
        const std::vector<fs::path> written = staging.commit();
        if (!s.quiet) print_summary(std::cout, run, eval);
        std::cout << (s.quiet ? "" : "\n") << "wrote " << written.size() << (written.size() == 1 ? " file" : " files")
                  << " to " << s.out.string() << "/";
        if (!run.graphs.empty()) std::cout << " (each NAME.circle with NAME.circle.input<i> and .expected<i> beside it)";
        std::cout << "\n";
        const std::vector<std::string> older = foreign_graphs(s.out, run.graphs);
        if (!older.empty()) {
            std::cerr << "note: " << s.out.string() << "/ also holds " << older.size()
                      << " .circle files that this run did not write (for example " << older.front()
                      << "); they come from an earlier run and may not match report.json\n";
        }
        return 0;
    } catch (const interrupted&) {
        std::cerr << "\n" << program << ": interrupted; no output files were written\n";
        return 130;
    } catch (const wrapq::error& e) {
        std::cerr << program << ": " << e.what() << "\n";
        return 1;
    } catch (const fs::filesystem_error& e) {
        std::cerr << program << ": " << e.what() << "\n";
        return 1;
    }
}

}  // namespace quantize_gemma4
