#include "lms/lora/LoraConfig.h"

#include "lms/base/DType.h"
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

namespace {

// re.match (anchored at the start only) or re.fullmatch of a Python regex; an invalid one matches
// nothing (std::regex throws, which stays here).
bool regexMatches(const std::string& pattern, std::string_view text, bool full) {
    if (pattern.size() > 4096 || text.size() > 4096) return false;
    try {
        const std::regex re(pattern, std::regex::ECMAScript);
        if (full) return std::regex_match(text.begin(), text.end(), re);
        return std::regex_search(text.begin(), text.end(), re, std::regex_constants::match_continuous);
    } catch (const std::exception&) {
        return false;
    }
}

// PEFT peft/tuners/tuners_utils.py check_target_module_exists: one string is re.fullmatch'ed
// against the module name; a list matches the name itself or a suffix starting at a dot.
bool peftSelects(const std::vector<std::string>& entries, bool regex, std::string_view module) {
    if (regex)
        return !entries.empty() && entries.front() != "all-linear" &&
               regexMatches(entries.front(), module, true);
    return std::any_of(entries.begin(), entries.end(), [&](const std::string& e) {
        return module == e || (module.size() > e.size() && module.ends_with(e) &&
                               module[module.size() - e.size() - 1] == '.');
    });
}

// MindFormers pet/tuners/lora_adapter.py recursive_replace_dense_cell walks net._cells: a cell whose
// attribute name re_match_list's exclude_layers is skipped with everything under it, and a Dense
// whose attribute name re.match'es target_modules is replaced.
bool mindformersSelects(const LoraSettings& s, std::string_view module) {
    size_t start = 0;
    while (true) {
        const size_t dot = module.find('.', start);
        const std::string_view part = module.substr(start, dot == std::string_view::npos ? dot : dot - start);
        for (const auto& e : s.excludeModules)
            if (regexMatches(e, part, false)) return false;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    const std::string_view attribute = module.substr(start);
    return std::any_of(s.targetModules.begin(), s.targetModules.end(),
                       [&](const std::string& t) { return regexMatches(t, attribute, false); });
}

}  // namespace

bool LoraSettings::targets(std::string_view moduleName) const {
    if (targetModules.empty() || !targetCheckSkipped.empty()) return false;
    if (kind != LoraConfigKind::Peft) return mindformersSelects(*this, moduleName);
    if (!excludeModules.empty() && peftSelects(excludeModules, excludeModulesRegex, moduleName)) return false;
    return peftSelects(targetModules, targetModulesRegex, moduleName);
}

std::string LoraSettings::targetModulesText() const {
    if (targetModules.size() == 1 && (targetModulesRegex || kind != LoraConfigKind::Peft))
        return "\"" + targetModules.front() + "\"";
    std::string text = "[";
    for (const auto& t : targetModules) text += (text.size() > 1 ? ", " : "") + t;
    return text + "]";
}

std::string LoraSettings::patternsFor(std::string_view moduleName) const {
    std::string out;
    for (const auto& entry : rankPattern)
        if (peftPatternMatches(entry.first, moduleName)) {
            out = "rank_pattern \"" + entry.first + "\"";
            break;
        }
    for (const auto& entry : alphaPattern)
        if (peftPatternMatches(entry.first, moduleName)) {
            out += (out.empty() ? "alpha_pattern \"" : ", alpha_pattern \"") + entry.first + "\"";
            break;
        }
    return out;
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
    s.excludeModules = stringList(block->find("exclude_layers"));
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
    s.targetModulesRegex = doc.find("target_modules") && doc.find("target_modules")->asString();
    s.excludeModules = stringList(doc.find("exclude_modules"));
    s.excludeModulesRegex = doc.find("exclude_modules") && doc.find("exclude_modules")->asString();
    // peft check_target_module_exists also filters by layer index (layers_to_transform with
    // layers_pattern), which a name-only check would get wrong.
    if (const JsonValue* layers = doc.find("layers_to_transform"); layers && !layers->isNull())
        s.targetCheckSkipped = "layers_to_transform restricts target_modules to some layers";
    s.provenance =
        "from " + name + ": r " + std::to_string(s.rank) + ", lora_alpha " + numberText(s.alpha) +
        (s.useRslora ? ", use_rslora (alpha/√r)" : "") +
        (s.rankPattern.empty() && s.alphaPattern.empty() ? "" : ", rank_pattern/alpha_pattern per module");
    return s;
}

Result<LoraSettings> loraSettingsFromManifest(const JsonValue& doc, const fs::path& file) {
    // The MindFormers LoRA merge configuration (read_adapter_config, the module of
    // MIND_FORMERS_ADAPTER_FORMAT in mindspore-lab/mindformers): the format must be the v1 string and
    // lora_config an object, or the manifest is refused rather than a default alpha used.
    const std::string name = fileText(file);
    if (!doc.isObject())
        return fail(ErrorCode::Malformed, "not a MindFormers adapter manifest (not an object)",
                    file.string());
    const JsonValue* format = doc.find("format");
    if (!format || !format->asString() || *format->asString() != kMindFormersManifestFormat)
        return fail(ErrorCode::Malformed,
                    "unsupported MindFormers adapter manifest format " +
                        (format ? toJson(*format) : "(none)") + " (expected \"" + kMindFormersManifestFormat +
                        "\")",
                    file.string(), "format");
    const JsonValue* block = doc.find("lora_config");
    if (!block || !block->isObject())
        return fail(ErrorCode::Malformed, "the manifest has no lora_config object", file.string(),
                    "lora_config");
    const JsonValue* rankValue = block->find("lora_rank");
    const JsonValue* rValue = block->find("r");
    const char* rankKey = rankValue ? "lora_rank" : "r";
    auto rank = positiveRank(rankValue ? rankValue : rValue, file, name + ": lora_config", rankKey);
    if (!rank) return std::unexpected(rank.error());
    if (rankValue && rValue) {
        auto r = positiveRank(rValue, file, name + ": lora_config", "r");
        if (!r) return std::unexpected(r.error());
        if (*r != *rank)
            return fail(ErrorCode::Malformed,
                        "lora_config has lora_rank " + std::to_string(*rank) + " but r " +
                            std::to_string(*r) + "; cannot tell which trained the adapter",
                        file.string(), "r");
    }
    auto alpha = positiveNumber(block->find("lora_alpha"), file, name + ": lora_config", "lora_alpha");
    if (!alpha) return std::unexpected(alpha.error());
    LoraSettings s;
    s.kind = LoraConfigKind::MindFormersManifest;
    s.file = file;
    s.rank = *rank;
    s.alpha = *alpha;
    if (const JsonValue* rs = block->find("use_rslora"); rs && !rs->isNull()) {
        if (!rs->isBool())
            return fail(ErrorCode::Malformed, "lora_config use_rslora is not true/false", file.string(),
                        "use_rslora");
        s.useRslora = *rs->asBool();
    }
    s.targetModules = stringList(block->find("target_modules"));
    s.excludeModules = stringList(block->find("exclude_layers"));
    if (const JsonValue* fp = doc.find("base_fingerprint"); fp && fp->asString())
        s.baseFingerprint = *fp->asString();
    s.provenance = "from " + name + ": lora_config lora_alpha " + numberText(s.alpha) + ", " + rankKey + " " +
                   std::to_string(s.rank) + (s.useRslora ? ", use_rslora (alpha/√r)" : "");
    return s;
}

namespace {

Result<JsonValue> readJsonFile(const fs::path& file) {
    auto text = readText(file);
    if (!text) return std::unexpected(text.error());
    auto doc = parseJson(*text);
    if (!doc) {
        auto e = doc.error();
        e.file = file.string();
        return std::unexpected(e);
    }
    return std::move(*doc);
}

}  // namespace

Result<std::vector<SloraAdapter>> readSloraAdapters(const fs::path& file) {
    // mindformers/trainer/utils.py load_slora_ckpt and pet/tuners/slora_adapter.py: json.load of
    // <adapter_path>/lora_adapter.json, {name: folder}; each folder holds adapter_model.ckpt and
    // adapter_config.json, whose r / lora_alpha / use_rslora give the scaling (calculate_scaling).
    auto doc = readJsonFile(file);
    if (!doc) return std::unexpected(doc.error());
    const auto* members = doc->asObject();
    if (!members || members->empty())
        return fail(ErrorCode::Malformed, "an S-LoRA lora_adapter.json must map adapter names to folders",
                    file.string());
    std::vector<SloraAdapter> out;
    for (const auto& [adapterName, value] : *members) {
        if (!value.asString() || value.asString()->empty())
            return fail(ErrorCode::Malformed, "the folder of adapter \"" + adapterName + "\" is not a path",
                        file.string(), adapterName);
        SloraAdapter a;
        a.name = adapterName;
        a.dir = *value.asString();
        const fs::path dir = a.dir.is_absolute() ? a.dir : file.parent_path() / a.dir;
        a.checkpoint = dir / "adapter_model.ckpt";
        const fs::path config = dir / "adapter_config.json";
        std::error_code ec;
        if (!fs::is_regular_file(config, ec))
            return fail(ErrorCode::Io,
                        "adapter \"" + adapterName + "\" has no adapter_config.json in " + dir.string(),
                        file.string(), adapterName);
        auto configDoc = readJsonFile(config);
        if (!configDoc) return std::unexpected(configDoc.error());
        auto settings = loraSettingsFromPeft(*configDoc, config);
        if (!settings) return std::unexpected(settings.error());
        a.settings = std::move(*settings);
        out.push_back(std::move(a));
    }
    return out;
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
        if (file.filename() == kSloraMapName)
            return fail(
                ErrorCode::InvalidArgument,
                "an S-LoRA lora_adapter.json maps several adapters; give it as --adapter and choose one "
                "with --adapter_name",
                file.string(), "lora_config");
        if (file.filename() == kMindFormersManifestName || doc->find("format"))
            return loraSettingsFromManifest(*doc, file);
        return loraSettingsFromPeft(*doc, file);
    }
    auto doc = parseYaml(*text, file.string());
    if (!doc) return std::unexpected(doc.error());
    return loraSettingsFromYaml(*doc, file);
}

std::vector<std::string> untargetedWeights(const std::vector<SourceTensor>& tensors, const LoraPlan& plan,
                                           const LoraSettings& settings) {
    std::vector<std::string> out;
    for (size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        const bool covered = i < plan.pairOfTensor.size() && plan.pairOfTensor[i] >= 0;
        const TensorRole role = i < plan.roles.size() ? plan.roles[i] : classifyName(t.name);
        if (covered || role == TensorRole::LoraA || role == TensorRole::LoraB ||
            role == TensorRole::OptimizerState || t.dims.size() < 2 || !isFloatingPoint(t.dtype) ||
            !t.name.ends_with(".weight"))
            continue;
        std::string_view module(t.name);
        module.remove_suffix(7);
        if (module.ends_with(".base_layer")) module.remove_suffix(11);
        if (settings.targets(module)) out.push_back(t.name);
    }
    return out;
}

Result<fs::path> findLoraConfig(const fs::path& path) {
    std::error_code ec;
    std::vector<fs::path> found;
    const bool isDir = fs::is_directory(path, ec);
    const fs::path folder = isDir ? path : path.parent_path();
    // MindFormers read_adapter_config: the manifest in the folder and up to three ancestors comes
    // first (_candidate_directories), before any adapter_config.json.
    fs::path dir = fs::absolute(folder.empty() ? fs::path(".") : folder, ec).lexically_normal();
    if (dir.filename().empty()) dir = dir.parent_path();  // "a/b/" names a/b
    // (is_regular_file reports a missing file through `ec`, so it is not the loop's condition.)
    for (int level = 0; level < 4 && !dir.empty(); ++level) {
        std::error_code missing;
        if (fs::is_regular_file(dir / kMindFormersManifestName, missing))
            return dir / kMindFormersManifestName;
        if (dir == dir.parent_path()) break;
        dir = dir.parent_path();
    }
    ec.clear();
    const fs::path adapterConfig = (folder.empty() ? fs::path(".") : folder) / "adapter_config.json";
    if (fs::is_regular_file(adapterConfig, ec))
        found.push_back(isDir ? path / "adapter_config.json" : adapterConfig);
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
