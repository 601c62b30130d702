// `loramerge impact SRC [merge flags] [--json]`: before merging, how much each LoRA pair changes its
// base weight (lms/analysis/LoraImpact.h). The source, adapter, scaling and plan come from the
// same MergeRequest a merge resolves, so the numbers are those of the merge the flags describe.
#include "Cli.h"
#include "Terminal.h"

#include "lms/analysis/LoraImpact.h"
#include "lms/base/Json.h"
#include "lms/base/Text.h"
#include "lms/merge/Request.h"

#include <cmath>
#include <cstdio>

namespace cli {
namespace {

lms::JsonValue number(double value) {
    return std::isfinite(value) ? lms::JsonValue(value) : lms::JsonValue(nullptr);
}

void printJson(const lms::ImpactReport& report) {
    lms::JsonValue root, pairs = lms::JsonValue::array();
    for (const auto& p : report.pairs) {
        lms::JsonValue row, sigma = lms::JsonValue::array(), dims = lms::JsonValue::array();
        for (double s : p.singularValues) sigma.push_back(number(s));
        for (auto d : p.baseDims) dims.push_back(d);
        row.set("base", p.base).set("a", p.a).set("b", p.b).set("layer", p.layer);
        row.set("dtype", p.baseType).set("shape", dims).set("rank", p.rank).set("scaling", number(p.scaling));
        row.set("base_norm", number(p.baseNorm)).set("delta_norm", number(p.deltaNorm));
        row.set("relative_norm", number(p.relativeNorm)).set("singular_values", sigma);
        row.set("numerical_rank", p.numericalRank).set("entropy_rank", number(p.entropyRank));
        row.set("elements", p.elements).set("unchanged", p.unchanged);
        pairs.push_back(std::move(row));
    }
    root.set("rank_tolerance", report.rankTolerance).set("pairs", pairs);
    std::printf("%s\n", lms::toJson(root).c_str());
}

void printText(const lms::ImpactReport& report, const lms::ResolvedJob& job) {
    std::printf("source: %s\n", job.source->description().c_str());
    if (!job.scalingProvenance.empty()) std::printf("scaling: %s\n", job.scalingProvenance.c_str());
    std::printf(
        "rel = |s*B*A|_F / |W|_F; rank = singular values of B*A above %g x the largest; "
        "erank = entropy effective rank; unchanged = elements of W the merge leaves bit-identical\n",
        report.rankTolerance);
    for (const auto& p : report.pairs)
        std::printf("  %s  %s %s  r=%lld  s=%s  rel %.3g  rank %lld  erank %.2f  unchanged %.2f%%\n",
                    p.base.c_str(), p.baseType.c_str(), lms::formatDims(p.baseDims).c_str(),
                    static_cast<long long>(p.rank), formatNumber(p.scaling).c_str(), p.relativeNorm,
                    static_cast<long long>(p.numericalRank), p.entropyRank, 100.0 * p.unchangedFraction());
}

}  // namespace

int runImpact(const std::vector<std::string>& args, const GlobalOptions&) {
    lms::MergeRequest request;
    bool json = false;
    if (auto code = parseMergeRequest(args, request, json)) return *code;
    const auto resolution = lms::resolve(request);
    for (const auto& refusal : resolution.refusals)  // impact writes nothing
        if (!lms::concernsOutputOnly(refusal.code)) return reportError(refusal.error);
    if (!resolution.job)
        return reportError(lms::Error{lms::ErrorCode::InvalidArgument, "no source", {}, {}, {}});
    const auto& job = *resolution.job;
    auto report = lms::computeLoraImpact(*job.source, job.plan, job.pairScaling);
    if (!report) return reportError(report.error());
    if (json)
        printJson(*report);
    else
        printText(*report, job);
    return kExitOk;
}

}  // namespace cli
