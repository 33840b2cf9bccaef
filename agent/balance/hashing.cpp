#include "hashing.hpp"

namespace dlb::agent::balance {

namespace {
constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;
} // namespace

uint64_t hash64(std::string_view data, uint64_t seed)
{
    // The seed is mixed before it enters the basis, so seeds 0 and 1 start far apart.
    uint64_t h = kFnvOffsetBasis ^ (seed == 0 ? 0 : mix64(seed));
    for (const char c : data) {
        h ^= static_cast<unsigned char>(c);
        h *= kFnvPrime;
    }
    return mix64(h);
}

std::optional<uint64_t> requestHash(const common::HashKey& key, const PickContext& ctx)
{
    std::string_view text;
    switch (key.kind) {
    case common::HashKey::Kind::Client:
        text = ctx.client_addr;
        break;
    case common::HashKey::Kind::Path:
        text = ctx.path;
        break;
    case common::HashKey::Kind::Header:
        if (ctx.header)
            text = ctx.header(key.header);
        break;
    }
    if (text.empty())
        return std::nullopt;
    return hash64(text);
}

} // namespace dlb::agent::balance
