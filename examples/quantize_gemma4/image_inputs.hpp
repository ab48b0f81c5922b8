// examples/quantize_gemma4/image_inputs.hpp: image-text pairs for calibration and evaluation.
//
// A pair list is a UTF-8 text file with one pair per line:
//
//   # comment lines and blank lines are skipped
//   photos/cat.png<TAB>A cat sleeps on a red sofa.
//   photos/street.jpg<TAB>Describe the street.
//   diagram.png
//
// The image path comes first, relative to the list file's directory unless
// absolute, and a tab separates the optional text. A byte order mark,
// leading and trailing spaces around the path, and lines of spaces are ignored. Each pair becomes one sample:
// <bos> <|image> N x <|image|> <image|> followed by the tokenized text, cut
// to --seq-len tokens, where N is the image's soft-token count after the
// processor's aspect-preserving resize.
#pragma once

#include "interrupt.hpp"
#include "options.hpp"

#include <wrapq.hpp>
#include <wrapq/image.hpp>
#include <wrapq/models/gemma4/vision_config.hpp>
#include <wrapq/models/gemma4/vision_input.hpp>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace quantize_gemma4 {

/// One image-text sample: the token ids with the image's placeholders, and the image.
struct image_sample {
    std::vector<std::int32_t> ids;
    wrapq::gemma4::vision_input image;
    std::string source;  ///< "LIST:LINE (IMAGE)", for messages and the report.
};

/// Returns `text` without leading and trailing spaces and tabs.
inline std::string trimmed(const std::string& text) {
    const std::size_t first = text.find_first_not_of(" \t");
    if (first == std::string::npos) return {};
    return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

/// Reads the pair lists `lists` (the files of `option`) and preprocesses
/// every image for tower `V`. Throws wrapq::io_error or invalid_argument
/// naming the list, the line and the image for a missing or undecodable
/// image, a sample that cannot hold the image's placeholders in --seq-len
/// tokens, and text without a tokenizer.
template <wrapq::gemma4::vision_config V>
std::vector<image_sample> collect_image_samples(const std::vector<fs::path>& lists, std::string_view option,
                                                const wrapq::text::bpe_tokenizer* tokenizer,
                                                const wrapq::gemma4::multimodal_tokens& tokens, std::size_t vocab_size,
                                                const settings& s) {
    std::vector<image_sample> out;
    const wrapq::image::patch_settings patches{V.patch_size, V.pooling_kernel, V.max_soft_tokens,
                                               V.position_embedding_size};
    for (const fs::path& list : lists) {
        const std::size_t before = out.size();
        std::ifstream in(list, std::ios::binary);
        if (!in || fs::is_directory(list)) {
            throw wrapq::io_error(std::string(option) + " " + list.string() + ": cannot read the pair list" +
                                  (fs::exists(list) ? "" : " (it does not exist)") +
                                  "; pass a text file with one 'IMAGE<TAB>TEXT' pair per line");
        }
        std::string line;
        for (std::size_t number = 1; std::getline(in, line); ++number) {
            check_interrupt();
            if (number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a byte order mark
            if (!line.empty() && line.back() == '\r') line.pop_back();
            const std::size_t tab = line.find('\t');
            const std::string listed = trimmed(line.substr(0, tab));
            const std::string text = tab == std::string::npos ? std::string() : line.substr(tab + 1);
            const std::string where = list.string() + ":" + std::to_string(number);
            if (listed.empty() && tab == std::string::npos) continue;  // a blank line
            if (listed.empty()) {
                throw wrapq::invalid_argument(where + ": the line has no image path before its tab; write "
                                              "'IMAGE<TAB>TEXT'");
            }
            if (listed.front() == '#') continue;
            const fs::path image_path = fs::path(listed).is_absolute() ? fs::path(listed) : list.parent_path() / listed;

            image_sample sample;
            sample.source = where + " ('" + image_path.string() + "')";
            wrapq::image::pixel_batch batch;
            try {
                batch = wrapq::image::preprocess_image(wrapq::image::read_image(image_path), patches);
            } catch (const wrapq::error& e) {
                std::string message = where + ": " + e.what();
                const std::size_t space = listed.find(' ');
                if (tab == std::string::npos && space != std::string::npos && !fs::exists(image_path) &&
                    fs::exists(list.parent_path() / listed.substr(0, space))) {
                    message += " (the line has no tab: separate the image path from the text with a tab, not a space)";
                }
                throw wrapq::invalid_argument(message);
            }
            sample.image = {std::move(batch.pixel_values), std::move(batch.position_ids)};
            try {
                wrapq::gemma4::check_vision_input(sample.image, V.patch_dim(), V.position_embedding_size, V.pooling_kernel);
            } catch (const wrapq::error& e) {
                throw wrapq::invalid_argument(where + ": image '" + image_path.string() + "': " + e.what());
            }

            sample.ids = {2, static_cast<std::int32_t>(tokens.boi)};
            sample.ids.insert(sample.ids.end(), batch.soft_tokens, static_cast<std::int32_t>(tokens.image));
            sample.ids.push_back(static_cast<std::int32_t>(tokens.eoi));
            if (sample.ids.size() > static_cast<std::size_t>(s.seq_len)) {
                throw wrapq::invalid_argument(where + ": the image gives " + std::to_string(batch.soft_tokens) +
                                              " soft tokens, so its sample needs at least " +
                                              std::to_string(sample.ids.size()) + " tokens, but --seq-len is " +
                                              std::to_string(s.seq_len) + "; raise --seq-len");
            }
            if (!text.empty()) {
                if (tokenizer == nullptr) {
                    throw wrapq::invalid_argument(where + ": the pair has text but no tokenizer is available; pass "
                                                  "--tokenizer FILE or leave the text out");
                }
                std::vector<std::int32_t> text_ids;
                try {
                    text_ids = tokenizer->encode(text);
                } catch (const wrapq::error& e) {
                    throw wrapq::invalid_argument(where + ": the text after the tab: " + e.what());
                }
                for (const std::int32_t id : text_ids) {
                    if (sample.ids.size() == static_cast<std::size_t>(s.seq_len)) break;
                    if (id < 0 || static_cast<std::size_t>(id) >= vocab_size) {
                        throw wrapq::invalid_argument(where + ": the tokenizer produced token " + std::to_string(id) +
                                                      " (" + tokenizer->token_text(id) + "), but the model's vocabulary has " +
                                                      std::to_string(vocab_size) +
                                                      " tokens; remove that token from the text, or use the "
                                                      "tokenizer.json that belongs to the checkpoint");
                    }
                    sample.ids.push_back(id);
                }
            }
            out.push_back(std::move(sample));
        }
        if (out.size() == before) {
            throw wrapq::invalid_argument(std::string(option) + " " + list.string() +
                                          ": the list names no image; write one 'IMAGE<TAB>TEXT' pair per line");
        }
    }
    return out;
}

/// Throws invalid_argument unless a `rows` x `columns` patch grid fits tower
/// `V`: whole pooling blocks, sides within the position tables, and at most
/// max_patches patches, the capacity of the static graph.
template <wrapq::gemma4::vision_config V>
void check_grid(std::size_t rows, std::size_t columns) {
    const std::string grid = "--vision-grid " + std::to_string(rows) + "x" + std::to_string(columns);
    if (rows * columns > V.max_patches()) {
        throw wrapq::invalid_argument(grid + " has " + std::to_string(rows * columns) + " patches, more than the " +
                                      std::to_string(V.max_patches()) + " the tower's profile allows (" +
                                      std::to_string(V.max_soft_tokens) + " soft tokens of " +
                                      std::to_string(V.pooling_kernel) + " x " + std::to_string(V.pooling_kernel) +
                                      " patches); choose a smaller grid");
    }
    if (rows % V.pooling_kernel != 0 || columns % V.pooling_kernel != 0) {
        throw wrapq::invalid_argument(grid + ": both sides must be multiples of the pooling kernel " +
                                      std::to_string(V.pooling_kernel));
    }
    if (rows > V.position_embedding_size || columns > V.position_embedding_size) {
        throw wrapq::invalid_argument(grid + ": a side is longer than the " + std::to_string(V.position_embedding_size) +
                                      " positions of the tower's position tables");
    }
}

/// The static patch grid of the vision graph: --vision-grid, else the
/// largest square grid of whole pooling blocks that fits the tower's patch
/// capacity and position tables (E2B: its published 36 x 66 profile).
template <wrapq::gemma4::vision_config V>
std::pair<std::size_t, std::size_t> vision_grid(const settings& s) {
    if (s.vision_grid) return {static_cast<std::size_t>(s.vision_grid->first), static_cast<std::size_t>(s.vision_grid->second)};
    if constexpr (V == wrapq::gemma4::e2b_vision) return {36, 66};
    std::size_t side = V.pooling_kernel;
    while ((side + V.pooling_kernel) * (side + V.pooling_kernel) <= V.max_patches() &&
           side + V.pooling_kernel <= V.position_embedding_size) {
        side += V.pooling_kernel;
    }
    return {side, side};
}

}  // namespace quantize_gemma4
