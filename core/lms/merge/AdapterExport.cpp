#include "lms/merge/AdapterExport.h"

#include "lms/base/Json.h"
#include "lms/distributed/Distributed.h"
#include "lms/formats/CheckpointWriter.h"
#include "lms/formats/Safetensors.h"
#include "lms/io/FileIO.h"
#include "lms/lora/LoraConfig.h"
#include "lms/lora/LoraPlan.h"
#include "lms/merge/Discovery.h"
#include "lms/merge/Job.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

namespace lms {
namespace fs = std::filesystem;
namespace {

constexpr uint64_t kBlockBytes = 64u << 20;  // one row block in memory at a time

std::string lowered(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return out;
}

std::string nameList(const std::vector<std::string>& names, size_t limit = 5) {
    std::string text;
    for (size_t k = 0; k < names.size() && k < limit; ++k) text += (k ? ", " : "") + names[k];
    return names.size() > limit ? text + ", ..." : text;
}

// Rank folders are opened as an adapter (most layouts of the strategy, the base weights, are absent);
// every other layout as openSource opens a model.
Result<std::unique_ptr<ModelSource>> openAdapter(const AdapterExportRequest& request,
                                                 std::vector<std::string>& notes, const CancelToken* cancel) {
    std::error_code ec;
    if (!fs::is_directory(request.source, ec) || !looksDistributed(request.source)) {
        SourceSpec spec;
        spec.src = request.source;
        spec.strategy = request.strategy;
        return openSource(spec, &notes, cancel);
    }
    fs::path strategy = request.strategy;
    if (strategy.empty()) {
        auto found = findStrategyNear(request.source);
        if (!found.path.empty()) notes.push_back(found.note);
        strategy = found.path;
    }
    if (strategy.empty())
        return fail(
            ErrorCode::InvalidArgument,
            "rank folders need their parallel strategy: pass --src_ckpt_strategy with a "
            "ckpt_strategy_rank_x.ckpt file, or the strategy folder when pipeline parallelism was used",
            request.source.string(), "src_ckpt_strategy");
    DistributedOptions options;
    options.modelDir = request.source;
    options.strategy = strategy;
    options.adapter = true;
    return openDistributedSource(options, &notes, cancel);
}

// What gets written: tensor indexes and their output names.
struct Selection {
    std::vector<size_t> tensors;
    std::vector<std::string> names;
    std::vector<std::string> modules;  // Peft: one per pair, in order
    std::vector<int64_t> ranks;        // Peft: one per pair
};

// LoRA tensors in source order; refuses a model (tensors that are neither LoRA nor bookkeeping).
Result<std::vector<size_t>> loraTensors(const ModelSource& source, const LoraPlan& plan,
                                        const AdapterExportRequest& request,
                                        std::vector<std::string>& notes) {
    std::vector<size_t> lora;
    std::vector<std::string> bookkeeping, copies, foreign;
    const auto& tensors = source.tensors();
    for (size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        const TensorRole role = plan.roles[i];
        uint64_t elements = 1;
        for (auto d : t.dims) elements *= uint64_t(std::max<int64_t>(d, 0));
        if (role == TensorRole::OptimizerState)
            (plan.dropped[i] ? copies : foreign).push_back(t.name);
        else if (role == TensorRole::LoraA || role == TensorRole::LoraB || hasLoraMarker(t.name))
            lora.push_back(i);
        else
            (elements <= 1 ? bookkeeping : foreign).push_back(t.name);
    }
    const std::string where = request.source.string();
    if (!foreign.empty() && !request.loraOnly)
        return fail(ErrorCode::InvalidArgument,
                    "the source holds " + std::to_string(foreign.size()) +
                        " tensor(s) that are not LoRA weights (" + nameList(foreign) +
                        "): it is a model, not an adapter (--lora-only exports only its LoRA "
                        "tensors)",
                    where, foreign.front());
    if (lora.empty()) return fail(ErrorCode::InvalidArgument, "the source holds no LoRA tensors", where);
    if (!foreign.empty())
        notes.push_back("left out " + std::to_string(foreign.size()) +
                        " tensor(s) of the model (--lora-only)");
    if (!bookkeeping.empty())
        notes.push_back("left out " + std::to_string(bookkeeping.size()) + " scalar record(s) (" +
                        nameList(bookkeeping) + ")");
    if (!copies.empty())
        notes.push_back("left out " + std::to_string(copies.size()) +
                        " optimizer cop(ies) of LoRA tensors (" + nameList(copies) + ")");
    return lora;
}

// Peft: every LoRA tensor must be half of an A/B pair; names base_model.model.<module>.lora_A.weight.
Result<Selection> peftSelection(const ModelSource& source, const LoraPlan& plan,
                                const std::vector<size_t>& lora, const AdapterExportRequest& request) {
    std::unordered_map<std::string, size_t> indexOf;
    for (size_t i : lora) indexOf.emplace(source.tensors()[i].name, i);
    Selection out;
    std::set<size_t> used;
    for (const auto& pair : plan.pairs) {
        if (pair.a.empty() || pair.b.empty() || !indexOf.count(pair.a) || !indexOf.count(pair.b)) continue;
        const std::string module = loraModuleOf(pair.a);
        if (module.empty()) continue;
        for (const auto& [name, suffix] :
             {std::pair{pair.a, ".lora_A.weight"}, std::pair{pair.b, ".lora_B.weight"}}) {
            out.tensors.push_back(indexOf.at(name));
            out.names.push_back("base_model.model." + module + suffix);
            used.insert(indexOf.at(name));
        }
        out.modules.push_back(module);
        // r from A [r, in]: a pair without its base has no rank in the plan.
        out.ranks.push_back(pair.aDims.size() == 2 ? pair.aDims.front() : pair.rank);
    }
    std::vector<std::string> loose;
    for (size_t i : lora)
        if (!used.count(i)) loose.push_back(source.tensors()[i].name);
    if (!loose.empty())
        return fail(ErrorCode::InvalidArgument,
                    std::to_string(loose.size()) +
                        " LoRA tensor(s) are not half of an A/B pair and have no PEFT name (" +
                        nameList(loose) + "); export them with --format ckpt or safetensors",
                    request.source.string(), loose.front());
    return out;
}

// PEFT peft/tuners/lora/config.py LoraConfig fields, as PeftConfig.save_pretrained writes them.
Result<std::string> peftConfigText(const Selection& selection, const AdapterExportRequest& request,
                                   std::vector<std::string>& notes) {
    fs::path file = request.configFile;
    if (file.empty()) {
        auto found = findLoraConfig(request.source);
        if (!found) return std::unexpected(found.error());
        file = *found;
    }
    std::optional<LoraSettings> settings;
    if (!file.empty()) {
        auto read = readLoraConfig(file);
        if (!read) return std::unexpected(read.error());
        settings = std::move(*read);
        for (size_t p = 0; p < selection.modules.size(); ++p)
            if (auto s = settings->scalingFor(selection.modules[p], selection.ranks[p]); !s)
                return std::unexpected(s.error());
    }
    if (!settings && !request.alpha)
        return fail(ErrorCode::InvalidArgument,
                    "no LoRA config found for the adapter, and adapter_config.json needs lora_alpha: pass "
                    "--lora_config FILE or --lora_alpha A",
                    request.source.string(), "lora_alpha");
    // r: the config's, else the rank most pairs have; other ranks go to rank_pattern by full module name.
    std::map<int64_t, size_t> counts;
    for (int64_t r : selection.ranks) ++counts[r];
    int64_t r = settings ? settings->rank : 0;
    size_t most = 0;
    for (const auto& [rank, count] : counts)
        if (!settings && count > most) {
            r = rank;
            most = count;
        }
    JsonValue rankPattern = JsonValue::object(), alphaPattern = JsonValue::object();
    if (settings) {
        for (const auto& [key, value] : settings->rankPattern) rankPattern.set(key, value);
        for (const auto& [key, value] : settings->alphaPattern) alphaPattern.set(key, value);
    } else {
        for (size_t p = 0; p < selection.modules.size(); ++p)
            if (selection.ranks[p] != r) rankPattern.set(selection.modules[p], selection.ranks[p]);
    }
    const double alpha = request.alpha ? *request.alpha : settings->alpha;
    notes.push_back(request.alpha ? "lora_alpha " + toJson(alpha) + " from --lora_alpha"
                                  : "r and lora_alpha " + settings->provenance);
    std::vector<std::string> targets;
    for (const auto& module : selection.modules) {
        const auto dot = module.rfind('.');
        std::string last = dot == std::string::npos ? module : module.substr(dot + 1);
        if (std::find(targets.begin(), targets.end(), last) == targets.end())
            targets.push_back(std::move(last));
    }
    JsonValue targetList = JsonValue::array();
    for (const auto& t : targets) targetList.push_back(t);
    JsonValue cfg = JsonValue::object();  // sorted keys, as PEFT's to_json_string writes them
    cfg.set("alpha_pattern", std::move(alphaPattern));
    cfg.set("base_model_name_or_path", nullptr);
    cfg.set("bias", "none");
    cfg.set("fan_in_fan_out", false);
    cfg.set("inference_mode", true);
    cfg.set("lora_alpha", alpha);
    cfg.set("lora_dropout", 0.0);
    cfg.set("peft_type", "LORA");
    cfg.set("r", r);
    cfg.set("rank_pattern", std::move(rankPattern));
    cfg.set("target_modules", std::move(targetList));
    cfg.set("task_type", nullptr);
    cfg.set("use_rslora", settings ? settings->useRslora : false);
    return toJson(cfg) + "\n";
}

Result<std::unique_ptr<TensorSink>> makeSink(const fs::path& file, AdapterFormat format,
                                             const ModelSource& source, const Selection& selection,
                                             Publish mode) {
    const auto inputs = source.inputFiles();
    if (format == AdapterFormat::Ckpt) {
        auto writer = CheckpointWriter::create(file, inputs, mode);
        if (!writer) return std::unexpected(writer.error());
        return std::unique_ptr<TensorSink>(std::make_unique<CheckpointWriter>(std::move(*writer)));
    }
    std::vector<SafetensorsTensor> declared;
    for (size_t k = 0; k < selection.tensors.size(); ++k) {
        const auto& t = source.tensors()[selection.tensors[k]];
        declared.push_back({selection.names[k], t.dtype, t.dims, t.byteSize});
    }
    // PEFT's save_pretrained tags its adapter_model.safetensors {"format": "pt"} (peft/utils/
    // save_and_load.py via safetensors.torch.save_file), and transformers' load_state_dict refuses a
    // file whose format is not pt/tf/flax/mlx; MindSpore's own files say "ms".
    auto writer = SafetensorsWriter::create(file, inputs, {}, std::move(declared), mode,
                                            format == AdapterFormat::Peft ? "pt" : "ms");
    if (!writer) return std::unexpected(writer.error());
    return std::unique_ptr<TensorSink>(std::make_unique<SafetensorsWriter>(std::move(*writer)));
}

// Streams every selected tensor, one row block at a time, into `sink`.
Status streamTensors(const ModelSource& source, const Selection& selection, TensorSink& sink,
                     const ProgressCallback& progress, const CancelToken* cancel,
                     AdapterExportReport& report) {
    ThrottledProgress throttled(progress);
    Progress p;
    p.stage = "exporting";
    p.itemsTotal = selection.tensors.size();
    for (size_t k : selection.tensors) p.bytesTotal += source.tensors()[k].byteSize;
    std::vector<std::byte> buffer;
    for (size_t k = 0; k < selection.tensors.size(); ++k) {
        const auto& t = source.tensors()[selection.tensors[k]];
        if (cancel && cancel->isCancelled()) return fail(ErrorCode::Cancelled, "cancelled", {}, t.name);
        if (auto st = sink.beginTensor(selection.names[k], t.typeName, t.dims, t.byteSize); !st) return st;
        const int64_t rows = rowCount(t);
        const uint64_t bytesPerRow = std::max<uint64_t>(rowBytes(t), 1);
        const int64_t step = int64_t(std::max<uint64_t>(1, kBlockBytes / bytesPerRow));
        for (int64_t row = 0; row < rows; row += step) {
            const int64_t end = std::min(rows, row + step);
            buffer.resize(size_t(uint64_t(end - row) * rowBytes(t)));
            if (auto st = source.readRows(selection.tensors[k], row, end, buffer, cancel); !st) return st;
            if (auto st = sink.append(buffer); !st) return st;
        }
        p.bytesDone += t.byteSize;
        p.itemsDone = k + 1;
        p.currentItem = t.name;
        if (progress) throttled(p);
        report.bytesWritten += t.byteSize;
    }
    if (progress) throttled.flush();
    report.tensorsWritten = selection.tensors.size();
    return {};
}

// Re-reads the finished (unpublished) tensor file: every selected tensor under its output name, with
// its type and dims, byte for byte what the source holds (one row block of each at a time).
Status verifyExport(const TensorSink& sink, const fs::path& finalName, const ModelSource& source,
                    const Selection& selection, const CancelToken* cancel) {
    auto written = openFullSource(sink.tempPath(), cancel);
    auto failed = [&](const std::string& what, const std::string& name) {
        return fail(ErrorCode::Io, "verification failed: " + what, finalName.string(), name);
    };
    if (!written) return failed("the output does not read back: " + written.error().message, {});
    const auto& out = (*written)->tensors();
    if (out.size() != selection.tensors.size()) return failed("it holds another number of tensors", {});
    std::vector<std::byte> want, got;
    for (size_t k = 0; k < selection.tensors.size(); ++k) {
        const auto& t = source.tensors()[selection.tensors[k]];
        const auto& o = out[k];
        if (o.name != selection.names[k] || o.dtype != t.dtype || o.dims != t.dims ||
            o.byteSize != t.byteSize)
            return failed("tensor " + std::to_string(k) + " is not " + selection.names[k] + " as written",
                          selection.names[k]);
        const int64_t rows = rowCount(t);
        const int64_t step = int64_t(std::max<uint64_t>(1, kBlockBytes / std::max<uint64_t>(rowBytes(t), 1)));
        for (int64_t row = 0; row < rows; row += step) {
            const int64_t end = std::min(rows, row + step);
            want.resize(size_t(uint64_t(end - row) * rowBytes(t)));
            got.resize(want.size());
            if (auto st = source.readRows(selection.tensors[k], row, end, want, cancel); !st) return st;
            if (auto st = (*written)->readRows(k, row, end, got, cancel); !st) return st;
            if (want != got) return failed("the bytes read back differ from the source", selection.names[k]);
        }
    }
    return {};
}

// Finishes every output, then publishes them all; a failed publish takes back what this run published.
Status publishAll(std::vector<std::unique_ptr<TensorSink>>& sinks, std::vector<AtomicOutputFile>& files,
                  const std::vector<fs::path>& names, const ModelSource& source, const Selection& selection,
                  const CancelToken* cancel) {
    for (auto& sink : sinks)
        if (auto st = sink->finish(); !st) return st;
    if (auto st = verifyExport(*sinks.front(), names.front(), source, selection, cancel); !st) return st;
    for (auto& file : files)
        if (auto st = file.finish(); !st) return st;
    size_t published = 0;
    Status status;
    for (auto& sink : sinks) {
        if (status = sink->publish(); !status) break;
        ++published;
    }
    for (auto& file : files) {
        if (!status) break;
        if (status = file.publish(); !status) break;
        ++published;
    }
    if (!status) {
        std::error_code ec;
        for (size_t k = 0; k < published; ++k) fs::remove(names[k], ec);
    }
    return status;
}

}  // namespace

std::string loraModuleOf(std::string_view aName) {
    const std::string lower = lowered(aName);
    size_t at = std::string::npos;
    for (const char* suffix : {".mindpet_delta_lora_a", ".tk_delta_lora_a"})
        if (lower.ends_with(suffix)) at = lower.size() - std::string_view(suffix).size();
    if (at == std::string::npos) {
        const size_t k = lower.rfind(".lora_a");
        // .lora_a at the end, or .lora_A.weight / .lora_A.<adapter>.weight
        if (k != std::string::npos &&
            (k + 7 == lower.size() || (lower[k + 7] == '.' && lower.ends_with(".weight"))))
            at = k;
    }
    if (at == std::string::npos || at == 0) return {};
    std::string module(aName.substr(0, at));
    constexpr std::string_view kPeftPrefix = "base_model.model.";
    if (module.starts_with(kPeftPrefix)) module.erase(0, kPeftPrefix.size());
    return module;
}

Result<AdapterExportReport> exportAdapter(const AdapterExportRequest& request,
                                          const ProgressCallback& progress, const CancelToken* cancel) {
    AdapterExportReport report;
    if (request.dstDir.empty())
        return fail(ErrorCode::InvalidArgument,
                    "no destination folder given: choose the folder the adapter goes to",
                    request.source.string(), "dst");
    auto opened = openAdapter(request, report.notes, cancel);
    if (!opened) return std::unexpected(opened.error());
    const ModelSource& source = **opened;
    const auto plan = planLora(source.tensors());
    auto lora = loraTensors(source, plan, request, report.notes);
    if (!lora) return std::unexpected(lora.error());
    Selection selection;
    std::string configText;
    if (request.format == AdapterFormat::Peft) {
        auto peft = peftSelection(source, plan, *lora, request);
        if (!peft) return std::unexpected(peft.error());
        selection = std::move(*peft);
        auto text = peftConfigText(selection, request, report.notes);
        if (!text) return std::unexpected(text.error());
        configText = std::move(*text);
    } else {
        selection.tensors = *lora;
        for (size_t i : *lora) selection.names.push_back(source.tensors()[i].name);
    }
    for (const auto& pair : plan.pairs) report.pairs += !pair.a.empty() && !pair.b.empty();
    const fs::path tensorsFile =
        request.dstDir /
        (request.format == AdapterFormat::Ckpt ? "adapter_model.ckpt" : "adapter_model.safetensors");
    std::vector<fs::path> names{tensorsFile};
    if (request.format == AdapterFormat::Peft) names.push_back(request.dstDir / "adapter_config.json");
    std::error_code ec;
    for (const auto& name : names)
        if (!request.overwrite && fs::exists(name, ec))
            return fail(
                ErrorCode::InvalidArgument,
                "the output file already exists; pass --overwrite to replace it or choose another --dst",
                name.string(), "dst");
    fs::create_directories(request.dstDir, ec);
    if (ec)
        return fail(ErrorCode::Io, "cannot create the folder: " + ec.message(), request.dstDir.string(),
                    "dst");
    const Publish mode = request.overwrite ? Publish::Replace : Publish::NoClobber;
    std::vector<std::unique_ptr<TensorSink>> sinks;
    auto sink = makeSink(tensorsFile, request.format, source, selection, mode);
    if (!sink) return std::unexpected(sink.error());
    sinks.push_back(std::move(*sink));
    if (auto st = streamTensors(source, selection, *sinks.front(), progress, cancel, report); !st) {
        auto error = st.error();
        if (error.file.empty()) error.file = request.source.string();
        return std::unexpected(error);
    }
    std::vector<AtomicOutputFile> files;
    if (!configText.empty()) {
        auto file = AtomicOutputFile::create(names.back(), mode);
        if (!file) return std::unexpected(file.error());
        if (auto st = file->write(std::as_bytes(std::span(configText.data(), configText.size()))); !st)
            return std::unexpected(st.error());
        files.push_back(std::move(*file));
    }
    if (auto st = publishAll(sinks, files, names, source, selection, cancel); !st)
        return std::unexpected(st.error());
    report.files = names;
    return report;
}

}  // namespace lms
