// libFuzzer target: tokenizer.json, the Hugging Face tokenizers file that
// quantize_gemma4 reads beside the checkpoint. A file that loads is then
// used: a fixed text with spaces, newlines, multi-byte characters, bytes
// with no token of their own and a special token is encoded and decoded,
// and every id of the vocabulary is decoded on its own.
//
// Seeds: seeds/tokenizer/, a Gemma-style file with byte fallback and a
// minimal one with merges written as "left right" strings.
#include "fuzz_input.hpp"

#include <wrapq/text/tokenizer.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    wrapq_fuzz::expect_clean_result_or_error([&] {
        const wrapq::text::bpe_tokenizer tokenizer =
            wrapq::text::bpe_tokenizer::from_json(wrapq_fuzz::as_text(data, size), "fuzz tokenizer.json");

        constexpr std::string_view text = "abc ab\n\nca b\xC3\xA9 \xE2\x82\xAC x<start_of_turn>aa\n";
        const std::vector<std::int32_t> ids = tokenizer.encode(text, true);
        (void)tokenizer.decode(ids);

        // Decoding one id at a time reaches byte tokens and special tokens
        // that the fixed text may not produce. Large vocabularies are cut
        // short to keep each run fast.
        const std::size_t count = std::min<std::size_t>(tokenizer.vocab_size(), 4096);
        for (std::size_t id = 0; id < count; ++id) {
            const std::int32_t one = static_cast<std::int32_t>(id);
            (void)tokenizer.decode(std::span<const std::int32_t>(&one, 1));
        }
    });
    return 0;
}
