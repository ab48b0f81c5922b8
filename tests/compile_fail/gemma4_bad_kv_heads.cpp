// A Gemma 4 config whose query heads are not a multiple of the KV heads must not compile.
// expected error: num_heads must be a multiple of every layer's kv_heads
#include <wrapq/models/gemma4/text_model.hpp>

constexpr auto bad = wrapq::gemma4::make_text_config<1>({
    .vocab_size = 16,
    .dims = {.hidden_size = 8, .num_heads = 3, .sliding_window = 4},
    .head_dim = 4,
    .global_head_dim = 4,
    .kv_heads = 2,
    .intermediate_size = 8,
    .pattern = {wrapq::gemma4::attention_kind::sliding},
});
wrapq::gemma4::text_model<bad> model;
