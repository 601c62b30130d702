#include "lms/formats/Sharding.h"

#include "lms/base/Json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace lms {

Result<uint64_t> parseShardSize(std::string_view text) {
    const auto bad = [&] {
        return fail(ErrorCode::InvalidArgument,
                    "expected a size in bytes or with KB, MB, GB or TB (decimal units, e.g. 5GB), got '" +
                        std::string(text) + "'",
                    {}, "max_shard_size");
    };
    std::string s(text);
    s.erase(0, s.find_first_not_of(" \t"));
    s.erase(s.find_last_not_of(" \t") + 1);
    double multiplier = 1;
    if (s.size() > 2) {
        std::string unit = s.substr(s.size() - 2);
        std::transform(unit.begin(), unit.end(), unit.begin(),
                       [](char c) { return char(std::toupper(uint8_t(c))); });
        static const std::pair<const char*, double> kUnits[] = {
            {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}};
        for (const auto& [name, factor] : kUnits)
            if (unit == name) multiplier = factor, s.resize(s.size() - 2);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
    double value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(value)) return bad();
    const double bytes = std::floor(value * multiplier);  // int(value * multiplier) in Python
    if (!(bytes >= 1) || bytes > 1.8e19) return bad();
    return uint64_t(bytes);
}

ShardPlan planShards(const std::vector<uint64_t>& tensorBytes, uint64_t maxShardBytes) {
    ShardPlan plan;
    std::vector<std::vector<size_t>> shards;
    std::vector<size_t> current;
    uint64_t currentSize = 0;
    for (size_t i = 0; i < tensorBytes.size(); ++i) {
        plan.totalSize += tensorBytes[i];
        if (tensorBytes[i] > maxShardBytes) {  // its own shard, before the one being filled
            shards.push_back({i});
            continue;
        }
        if (currentSize + tensorBytes[i] > maxShardBytes) {
            shards.push_back(std::move(current));
            current.clear();
            currentSize = 0;
        }
        current.push_back(i);
        currentSize += tensorBytes[i];
    }
    if (!current.empty()) shards.push_back(std::move(current));
    plan.shardOf.assign(tensorBytes.size(), 0);
    for (size_t k = 0; k < shards.size(); ++k) {
        char name[64];
        std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", k + 1, shards.size());
        plan.fileNames.push_back(shards.size() == 1 ? "model.safetensors" : name);
        for (size_t i : shards[k]) plan.shardOf[i] = k;
    }
    return plan;
}

std::string shardIndexJson(const std::vector<std::string>& tensorNames, const ShardPlan& plan) {
    std::vector<size_t> order(tensorNames.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return tensorNames[a] < tensorNames[b]; });
    std::string out = "{\n  \"metadata\": {\n    \"total_size\": " + std::to_string(plan.totalSize) +
                      "\n  },\n  \"weight_map\": {";
    for (size_t k = 0; k < order.size(); ++k) {
        const size_t i = order[k];
        out += (k ? ",\n    " : "\n    ") + toJson(JsonValue(tensorNames[i])) + ": " +
               toJson(JsonValue(plan.fileNames[plan.shardOf[i]]));
    }
    out += order.empty() ? "}\n}\n" : "\n  }\n}\n";
    return out;
}

}  // namespace lms
