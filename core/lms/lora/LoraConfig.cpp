#include "lms/lora/LoraConfig.h"

#include "lms/lora/Yaml.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>

namespace lms {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxConfigBytes = 16u << 20;

std::string fileText(const fs::path& file) {
    return file.filename().string();
}

std::string numberText(double v) {
    std::ostringstream out;
    out.precision(17);
    out << v;
    return out.str();
}

Result<std::string> readText(const fs::path& file) {
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (ec) return fail(ErrorCode::Io, "cannot read the LoRA config: " + ec.message(), file.string());
    if (size > kMaxConfigBytes)
        return fail(ErrorCode::Malformed,
                    "the LoRA config is over " + std::to_string(kMaxConfigBytes) + " bytes", file.string());
    std::ifstream in(file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in && !in.eof()) return fail(ErrorCode::Io, "cannot read the LoRA config", file.string());
    return text;
}

// A positive finite number that is not a boolean (YAML's `yes` is a bool, not 1).
Result<double> positiveNumber(const JsonValue* v, const fs::path& file, const std::string& where,
                              const char* key) {
    const auto d = v ? v->asDouble() : std::nullopt;
    if (!v || v->isNull())
        return fail(ErrorCode::Malformed,
                    where + " has no " + key + "; refusing to assume a default (MindFormers and PEFT would)",
                    file.string(), key);
    if (!v->isNumber() || !d || !std::isfinite(*d) || *d <= 0)
        return fail(ErrorCode::Malformed, where + " " + key + " is not a positive number", file.string(),
                    key);
    return *d;
}

Result<int64_t> positiveRank(const JsonValue* v, const fs::path& file, const std::string& where,
                             const char* key) {
    auto d = positiveNumber(v, file, where, key);
    if (!d) return std::unexpected(d.error());
    if (!v->isInteger())
        return fail(ErrorCode::Malformed, where + " " + key + " is not an integer", file.string(), key);
    return int64_t(*d);
}

// MindFormers' target_modules is one regex string ('.*wq|.*wk'); PEFT's a list of names (or one string).
std::vector<std::string> stringList(const JsonValue* v) {
    std::vector<std::string> out;
    if (!v) return out;
    if (auto* s = v->asString()) out.push_back(*s);
    if (auto* a = v->asArray())
        for (const auto& e : *a)
            if (auto* s = e.asString()) out.push_back(*s);
    return out;
}

template <typename T>
Result<std::vector<std::pair<std::string, T>>> pattern(const JsonValue* v, const fs::path& file,
                                                       const char* key) {
    std::vector<std::pair<std::string, T>> out;
    if (!v || v->isNull()) return out;
    const auto* members = v->asObject();
    if (!members)
        return fail(ErrorCode::Malformed, std::string(key) + " is not an object", file.string(), key);
    for (const auto& [k, value] : *members) {
        const std::string where = std::string(key) + " \"" + k + "\"";
        if constexpr (std::is_same_v<T, int64_t>) {
            auto r = positiveRank(&value, file, fileText(file) + ": " + where, "r");
            if (!r) return std::unexpected(r.error());
            out.emplace_back(k, *r);
        } else {
            auto a = positiveNumber(&value, file, fileText(file) + ": " + where, "lora_alpha");
            if (!a) return std::unexpected(a.error());
            out.emplace_back(k, *a);
        }
    }
    return out;
}

const JsonValue* yamlLoraBlock(const JsonValue& doc, std::string& where) {
    const JsonValue* model = doc.find("model");
    const JsonValue* modelConfig = model ? model->find("model_config") : nullptr;
    const JsonValue* pet = modelConfig ? modelConfig->find("pet_config") : nullptr;
    const JsonValue* pynative = doc.find("lora_config");
    if (pet && !pet->isObject()) pet = nullptr;
    if (pynative && !pynative->isObject()) pynative = nullptr;
    if (pet && pynative) {
        where = "both";
        return nullptr;
    }
    where = pet ? "model.model_config.pet_config" : "lora_config";
    return pet ? pet : pynative;
}

}  // namespace

bool peftPatternMatches(std::string_view key, std::string_view moduleName) {
    // peft/utils/other.py get_pattern_key: re.match(rf"(.*\.)?({key})$", key_to_match). A key PEFT
    // would reject as a regex matches nothing here; std::regex reports that by throwing, which stays inside.
    if (key.size() > 1024 || moduleName.size() > 4096) return false;
    try {
        const std::regex re("(.*\\.)?(" + std::string(key) + ")", std::regex::ECMAScript);
        return std::regex_match(moduleName.begin(), moduleName.end(), re);
    } catch (const std::exception&) {
        return false;
    }
}

Result<double> LoraSettings::scalingFor(std::string_view moduleName, int64_t rankFromShapes) const {
    int64_t r = rank;
    double a = alpha;
    // PEFT tuners/lora/model.py _create_and_replace: r and alpha from the first matching pattern key.
    for (const auto& [key, value] : rankPattern)
        if (peftPatternMatches(key, moduleName)) {
            r = value;
            break;
        }
    for (const auto& [key, value] : alphaPattern)
        if (peftPatternMatches(key, moduleName)) {
            a = value;
            break;
        }
    if (rankFromShapes > 0 && rankFromShapes != r)
        return fail(ErrorCode::Mismatch,
                    "the LoRA weights have r = " + std::to_string(rankFromShapes) + " but " + fileText(file) +
                        " says r = " + std::to_string(r),
                    file.string(), std::string(moduleName));
    if (r <= 0)
        return fail(ErrorCode::InvalidArgument, "LoRA rank must be positive", file.string(), "lora_rank");
    // peft/tuners/lora/layer.py LoraLayer.update_layer: alpha / sqrt(r) with use_rslora, else alpha / r.
    return useRslora ? a / std::sqrt(double(r)) : a / double(r);
}

Result<LoraSettings> loraSettingsFromYaml(const JsonValue& doc, const fs::path& file) {
    std::string where;
    const JsonValue* block = yamlLoraBlock(doc, where);
    if (where == "both")
        return fail(ErrorCode::Malformed,
                    "both model.model_config.pet_config and lora_config are present; cannot tell which "
                    "trained the adapter",
                    file.string(), "lora_config");
    if (!block)
        return fail(ErrorCode::Malformed,
                    "no LoRA settings: neither model.model_config.pet_config nor lora_config", file.string(),
                    "pet_config");
    // mindformers/pet/pet_config.py: pet_type selects the tuner; S-LoRA ("slora") uses the same
    // lora_rank/lora_alpha. Absent, the block is LoRA (pynative/config/config.py LoraConfig has none).
    if (const JsonValue* type = block->find("pet_type")) {
        std::string t = type->asString() ? *type->asString() : toJson(*type);
        std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        if (t != "lora" && t != "slora")
            return fail(ErrorCode::Malformed, where + ".pet_type is " + toJson(*type) + ", not lora",
                        file.string(), "pet_type");
    }
    LoraSettings s;
    s.kind = where == "lora_config" ? LoraConfigKind::MindFormersYamlPyNative
                                    : LoraConfigKind::MindFormersYamlPetConfig;
    s.file = file;
    // Only the block's own lora_rank / lora_alpha: kv_lora_rank and q_lora_rank are MLA ranks.
    auto rank = positiveRank(block->find("lora_rank"), file, where, "lora_rank");
    if (!rank) return std::unexpected(rank.error());
    auto alpha = positiveNumber(block->find("lora_alpha"), file, where, "lora_alpha");
    if (!alpha) return std::unexpected(alpha.error());
    s.rank = *rank;
    s.alpha = *alpha;
    s.targetModules = stringList(block->find("target_modules"));
    s.provenance = "from " + fileText(file) + ": " + where + " lora_alpha " + numberText(s.alpha) +
                   ", lora_rank " + std::to_string(s.rank);
    return s;
}

Result<LoraSettings> loraSettingsFromPeft(const JsonValue& doc, const fs::path& file) {
    const std::string name = fileText(file);
    if (!doc.isObject())
        return fail(ErrorCode::Malformed, "not a PEFT adapter config (not an object)", file.string());
    if (const JsonValue* type = doc.find("peft_type");
        type && !(type->asString() && *type->asString() == "LORA"))
        return fail(ErrorCode::Malformed, "peft_type is " + toJson(*type) + ", not LORA", file.string(),
                    "peft_type");
    LoraSettings s;
    s.kind = LoraConfigKind::Peft;
    s.file = file;
    // peft/tuners/lora/config.py LoraConfig defaults r 8, lora_alpha 8; a saved config always has them.
    auto rank = positiveRank(doc.find("r"), file, name, "r");
    if (!rank) return std::unexpected(rank.error());
    auto alpha = positiveNumber(doc.find("lora_alpha"), file, name, "lora_alpha");
    if (!alpha) return std::unexpected(alpha.error());
    s.rank = *rank;
    s.alpha = *alpha;
    if (const JsonValue* rs = doc.find("use_rslora"); rs && !rs->isNull()) {
        if (!rs->isBool())
            return fail(ErrorCode::Malformed, "use_rslora is not true/false", file.string(), "use_rslora");
        s.useRslora = *rs->asBool();
    }
    auto ranks = pattern<int64_t>(doc.find("rank_pattern"), file, "rank_pattern");
    if (!ranks) return std::unexpected(ranks.error());
    auto alphas = pattern<double>(doc.find("alpha_pattern"), file, "alpha_pattern");
    if (!alphas) return std::unexpected(alphas.error());
    s.rankPattern = std::move(*ranks);
    s.alphaPattern = std::move(*alphas);
    s.targetModules = stringList(doc.find("target_modules"));
    s.provenance =
        "from " + name + ": r " + std::to_string(s.rank) + ", lora_alpha " + numberText(s.alpha) +
        (s.useRslora ? ", use_rslora (alpha/√r)" : "") +
        (s.rankPattern.empty() && s.alphaPattern.empty() ? "" : ", rank_pattern/alpha_pattern per module");
    return s;
}

Result<LoraSettings> readLoraConfig(const fs::path& file) {
    auto text = readText(file);
    if (!text) return std::unexpected(text.error());
    if (file.extension() == ".json") {
        auto doc = parseJson(*text);
        if (!doc) {
            auto e = doc.error();
            e.file = file.string();
            return std::unexpected(e);
        }
        return loraSettingsFromPeft(*doc, file);
    }
    auto doc = parseYaml(*text, file.string());
    if (!doc) return std::unexpected(doc.error());
    return loraSettingsFromYaml(*doc, file);
}

Result<fs::path> findLoraConfig(const fs::path& path) {
    std::error_code ec;
    std::vector<fs::path> found;
    const bool isDir = fs::is_directory(path, ec);
    const fs::path folder = isDir ? path : path.parent_path();
    if (isDir && fs::is_regular_file(path / "adapter_config.json", ec))
        found.push_back(path / "adapter_config.json");
    for (const auto& entry : fs::directory_iterator(folder.empty() ? fs::path(".") : folder, ec)) {
        const auto ext = entry.path().extension();
        if ((ext != ".yaml" && ext != ".yml") || !entry.is_regular_file(ec)) continue;
        auto text = readText(entry.path());
        if (!text) continue;
        auto doc = parseYaml(*text, entry.path().string());
        std::string where;
        if (doc && (yamlLoraBlock(*doc, where) || where == "both")) found.push_back(entry.path());
    }
    std::sort(found.begin(), found.end());
    if (found.size() > 1) {
        std::string list;
        for (const auto& f : found) list += (list.empty() ? "" : ", ") + f.string();
        return fail(ErrorCode::InvalidArgument,
                    "several LoRA configs could be meant: " + list + "; pass --lora_config FILE",
                    path.string(), "lora_config");
    }
    return found.empty() ? fs::path() : found.front();
}

}  // namespace lms

#include "lms/merge/Merge.h"

namespace lms {

Result<double> ScalingSpec::scalingFor(const LoraPair& pair) const {
    if (scaling || alpha || !config) return scalingFor(pair.rank);
    std::string_view module = pair.base;
    if (module.ends_with(".weight")) module.remove_suffix(7);
    return config->scalingFor(module, pair.rank);
}

}  // namespace lms
