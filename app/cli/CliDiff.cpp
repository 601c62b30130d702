// `loramerge diff A B [--json] [--all]`: what changed between two models, tensor by tensor.
#include "Args.h"
#include "Cli.h"

#include "lms/analysis/Diff.h"
#include "lms/base/Json.h"
#include "lms/base/Text.h"
#include "lms/merge/Job.h"

#include <cmath>
#include <cstdio>

namespace cli {
namespace {

lms::JsonValue number(double value) {
    return std::isfinite(value) ? lms::JsonValue(value) : lms::JsonValue(nullptr);
}

lms::JsonValue dimsJson(const std::vector<int64_t>& dims) {
    lms::JsonValue out = lms::JsonValue::array();
    for (auto d : dims) out.push_back(d);
    return out;
}

void printJson(const lms::DiffReport& report, const std::string& a, const std::string& b) {
    lms::JsonValue root, tensors = lms::JsonValue::array();
    for (const auto& t : report.tensors) {
        lms::JsonValue row;
        row.set("name", t.name).set("status", lms::diffStatusName(t.status));
        row.set("dtype_a", t.typeA)
            .set("dtype_b", t.typeB)
            .set("shape_a", dimsJson(t.dimsA))
            .set("shape_b", dimsJson(t.dimsB));
        row.set("elements", t.elements).set("changed", t.changed);
        if (t.floating) {
            row.set("max_abs_diff", number(t.maxAbsDiff)).set("relative_norm", number(t.relativeNorm));
            row.set("cosine", number(t.cosine)).set("non_finite", t.nonFinite);
        }
        tensors.push_back(std::move(row));
    }
    lms::JsonValue summary;
    summary.set("identical", report.identical)
        .set("changed", report.changed)
        .set("only_in_a", report.onlyInA);
    summary.set("only_in_b", report.onlyInB).set("dtype_or_shape_differs", report.mismatched);
    root.set("a", a).set("b", b).set("summary", summary).set("tensors", tensors);
    std::printf("%s\n", lms::toJson(root).c_str());
}

std::string statistic(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3g", value);
    return text;
}

void printText(const lms::DiffReport& report, const lms::ModelSource& a, const lms::ModelSource& b,
               bool all) {
    std::printf("A: %s\nB: %s\n", a.description().c_str(), b.description().c_str());
    std::printf(
        "%zu tensors: %zu identical, %zu changed, %zu only in A, %zu only in B, %zu differ in dtype or "
        "shape\n",
        report.tensors.size(), report.identical, report.changed, report.onlyInA, report.onlyInB,
        report.mismatched);
    for (const auto& t : report.tensors) {
        if (!all && t.status == lms::DiffStatus::Identical) continue;
        std::string detail;
        if (t.status == lms::DiffStatus::Changed) {
            detail = std::to_string(t.changed) + " of " + std::to_string(t.elements) + " elements";
            if (t.floating)
                detail += ", max |d| " + statistic(t.maxAbsDiff) + ", rel norm " + statistic(t.relativeNorm) +
                          ", cosine " + statistic(t.cosine);
            if (t.nonFinite) detail += ", " + std::to_string(t.nonFinite) + " non-finite";
        } else if (t.status != lms::DiffStatus::Identical) {
            detail = (t.typeA.empty() ? "-" : t.typeA + " " + lms::formatDims(t.dimsA)) + " vs " +
                     (t.typeB.empty() ? "-" : t.typeB + " " + lms::formatDims(t.dimsB));
        }
        std::printf("  %-13s %s  %s\n", lms::diffStatusName(t.status), t.name.c_str(), detail.c_str());
    }
}

}  // namespace

int runDiff(const std::vector<std::string>& args, const GlobalOptions&) {
    Args parsed;
    if (auto error = parsed.parse(
            args,
            {{"json", false, ""}, {"all", false, ""}, {"strategy-a", true, ""}, {"strategy-b", true, ""}});
        !error.empty())
        return usageError(error);
    if (parsed.positionals().size() != 2) return usageError("diff takes two models: A B");
    std::unique_ptr<lms::ModelSource> models[2];
    const char* strategies[2] = {"strategy-a", "strategy-b"};
    for (int k = 0; k < 2; ++k) {
        lms::SourceSpec spec;
        spec.src = parsed.positionals()[size_t(k)];
        spec.strategy = parsed.value(strategies[k]).value_or("");
        auto source = lms::openSource(spec);
        if (!source) return reportError(source.error());
        models[k] = std::move(*source);
    }
    auto report = lms::diffModels(*models[0], *models[1]);
    if (!report) return reportError(report.error());
    if (parsed.has("json"))
        printJson(*report, parsed.positionals()[0], parsed.positionals()[1]);
    else
        printText(*report, *models[0], *models[1], parsed.has("all"));
    return kExitOk;
}

}  // namespace cli
