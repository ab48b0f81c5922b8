// examples/quantize_gemma4/builtin_inputs.hpp: the tokenizer and texts of the built-in default run.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace quantize_gemma4 {

/// Returns a character-level BPE tokenizer.json for generated models
/// without a tokenizer: <pad>, <eos>, <bos>, <unk> at ids 0 to 3 as in
/// Gemma, Gemma 4's turn tokens at 4 and 5, "▁" for spaces, then one token
/// per printable ASCII character and "\n": 102 ids, so it fits the
/// 128-token tiny vocabulary. Other characters become <unk>.
inline std::string builtin_tokenizer_json() {
    std::string vocab = R"("<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<|turn>": 4, "<turn|>": 5, "\u2581": 6)";
    int id = 7;
    for (int c = 0x21; c <= 0x7e; ++c) {
        std::string token(1, static_cast<char>(c));
        if (c == '"' || c == '\\') token = "\\" + token;  // JSON string escapes
        vocab += ", \"" + token + "\": " + std::to_string(id++);
    }
    vocab += ", \"\\n\": " + std::to_string(id);

    std::string added;
    const char* specials[] = {"<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>"};
    for (int i = 0; i < 6; ++i) {
        added += std::string(i ? ", " : "") + R"({"id": )" + std::to_string(i) + R"(, "content": ")" + specials[i] +
                 R"(", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true})";
    }
    return R"({"version": "1.0", "added_tokens": [)" + added +
           R"(], "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},)"
           R"( "pre_tokenizer": null,)"
           R"( "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],)"
           R"( "pair": [], "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}},)"
           R"( "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}]},)"
           R"( "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "byte_fallback": false, "vocab": {)" +
           vocab + R"(}, "merges": []}})";
}

/// English calibration text of the built-in run, written for this program.
inline constexpr std::string_view builtin_calibration_text =
    "Post-training quantization turns a trained floating-point network into one that computes with small "
    "integers. It needs no retraining: a few hundred samples of representative input pass through the model, "
    "observers record the range of every activation, and each range becomes a scale and a zero point.\n\n"
    "A scale maps real values to integer steps. With eight bits there are 256 steps, so a tensor that spans "
    "minus four to plus four gets steps of about one thirtieth. Values outside the calibrated range are clamped, "
    "which is why the calibration data should look like the data the device will see.\n\n"
    "The weather on the coast changed quickly that spring. In the morning the harbour lay under fog, by noon "
    "the wind had cleared the sky, and in the evening the fishing boats came back early because of the swell. "
    "People in the town said that the old lighthouse keeper could tell the weather from the colour of the water.\n\n"
    "Compilers for neural processors read the quantized model as a static graph. Every tensor carries its "
    "quantization parameters, every operator has a fixed shape, and the runtime never allocates memory while it "
    "runs. Firmware engineers link the model file into the image and check its size and identifier at start-up.\n\n"
    "She opened the notebook and wrote down the numbers from the experiment: the error of each layer, the "
    "largest difference between the float and the integer outputs, and the time each run took. Then she "
    "compared them with the results from the week before and found that the last layer had improved the most.\n\n"
    "Rivers carry sand and clay from the mountains to the sea. Where the current slows, near the mouth of a "
    "river, the material settles and forms a delta. Over thousands of years the delta grows, new channels open "
    "and old ones silt up, and the coastline moves further out.\n";

/// Held-out English text of the built-in run; no sentence appears in the calibration text.
inline constexpr std::string_view builtin_eval_text =
    "A good benchmark states the machine, the command and the median of several runs. Single measurements on a "
    "shared computer vary too much to compare two versions of a program.\n\n"
    "The train left the station ten minutes late. Most passengers read or slept, a child counted the cows in the "
    "fields, and an old man explained the history of every village they passed to anyone who would listen.\n\n"
    "Language models predict the next token from the tokens before it. The perplexity of a model on a text is "
    "the exponential of the average negative log-likelihood of each token, so a lower perplexity means better "
    "predictions.\n\n"
    "Bread needs flour, water, salt and time. The dough rests until it has doubled, is folded and shaped, rests "
    "again and goes into a hot oven, where the crust browns and the inside sets.\n";

}  // namespace quantize_gemma4
