// Tests for lms::LoraSettings and its readers: MindFormers YAML (pet_config / PyNative lora_config),
// PEFT adapter_config.json (rank_pattern/alpha_pattern, rsLoRA), the rank cross-check, the refusals
// (never a default alpha) and discovery.

#include "TestSupport.h"
#include "lms/lora/LoraConfig.h"
#include "lms/lora/Yaml.h"
#include "lms/merge/Merge.h"

#include <QTemporaryDir>
#include <QtTest>
#include <fstream>
#include <memory>

using lms::test::fetchText;

namespace {
QString Q(const std::string& s) {
    return QString::fromStdString(s);
}
}  // namespace

class TestLoraConfig : public QObject {
    Q_OBJECT

private slots:
    void patternKeys_data();
    void patternKeys();
    void yamlSettings_data();
    void yamlSettings();
    void yamlRefusals_data();
    void yamlRefusals();
    void peftScalings_data();
    void peftScalings();
    void rankCrossCheck();
    void discovery();
    void manifests_data();
    void manifests();
    void manifestRefusals_data();
    void manifestRefusals();
    void manifestDiscovery();
    void targetModules_data();
    void targetModules();
    void untargeted();
    void slora();
    void sloraRefusals_data();
    void sloraRefusals();
};

void TestLoraConfig::patternKeys_data() {
    QTest::addColumn<QString>("key");
    QTest::addColumn<QString>("module");
    QTest::addColumn<bool>("matches");
    QTest::newRow("suffix") << "o_proj"
                            << "model.layers.0.self_attn.o_proj" << true;
    QTest::newRow("whole name") << "o_proj"
                                << "o_proj" << true;
    QTest::newRow("layers.1 vs layers.11") << "layers.1.self_attn.v_proj"
                                           << "model.layers.11.self_attn.v_proj" << false;
    QTest::newRow("layers.1") << "layers.1.self_attn.v_proj"
                              << "model.layers.1.self_attn.v_proj" << true;
    QTest::newRow("partial component") << "proj"
                                       << "model.layers.0.self_attn.o_proj" << false;
    QTest::newRow("regex key") << "layers\\.[0-1]\\.mlp\\.down_proj"
                               << "model.layers.1.mlp.down_proj" << true;
    QTest::newRow("invalid regex") << "("
                                   << "model.(" << false;
}

void TestLoraConfig::patternKeys() {
    const std::string key = fetchText("key");
    const std::string module = fetchText("module");
    QFETCH(bool, matches);
    QCOMPARE(lms::peftPatternMatches(key, module), matches);
}

void TestLoraConfig::yamlSettings_data() {
    QTest::addColumn<QString>("yaml");
    QTest::addColumn<double>("alpha");
    QTest::addColumn<qint64>("rank");
    QTest::addColumn<QString>("provenance");
    QTest::newRow("pet_config, MLA decoys")
        << "model:\n  model_config:\n    kv_lora_rank: 512\n    q_lora_rank: 1536\n"
           "    pet_config:\n      pet_type: lora\n      lora_rank: 8\n      lora_alpha: 32\n"
        << 32.0 << qint64(8) << "from f.yaml: model.model_config.pet_config lora_alpha 32, lora_rank 8";
    QTest::newRow("PyNative lora_config")
        << "lora_config:\n  lora_rank: 16\n  lora_alpha: 8\n"
        << 8.0 << qint64(16) << "from f.yaml: lora_config lora_alpha 8, lora_rank 16";
    QTest::newRow("fractional alpha, slora")
        << "model:\n  model_config:\n    pet_config: {pet_type: slora, lora_rank: 4, lora_alpha: 2.5}\n"
        << 2.5 << qint64(4) << "from f.yaml: model.model_config.pet_config lora_alpha 2.5, lora_rank 4";
}

void TestLoraConfig::yamlSettings() {
    const std::string yaml = fetchText("yaml");
    QFETCH(double, alpha);
    QFETCH(qint64, rank);
    const std::string provenance = fetchText("provenance");
    auto doc = lms::parseYaml(yaml, "f.yaml");
    QVERIFY(doc);
    auto s = lms::loraSettingsFromYaml(*doc, "dir/f.yaml");
    QVERIFY2(s, s ? "" : s.error().message.c_str());
    QCOMPARE(s->alpha, alpha);
    QCOMPARE(s->rank, rank);
    QCOMPARE(Q(s->provenance), Q(provenance));
    QCOMPARE(*s->scalingFor("model.layers.0.attention.wq", rank), alpha / double(rank));
}

void TestLoraConfig::yamlRefusals_data() {
    QTest::addColumn<QString>("yaml");
    QTest::addColumn<QString>("parameter");
    QTest::addColumn<QString>("message");
    QTest::newRow("no alpha") << "model:\n  model_config:\n    pet_config:\n      lora_rank: 8\n"
                              << "lora_alpha"
                              << "model.model_config.pet_config has no lora_alpha; refusing to assume a "
                                 "default (MindFormers and PEFT would)";
    QTest::newRow("no rank")
        << "lora_config:\n  lora_alpha: 16\n"
        << "lora_rank"
        << "lora_config has no lora_rank; refusing to assume a default (MindFormers and PEFT would)";
    QTest::newRow("rank only in MLA")
        << "model:\n  model_config:\n    kv_lora_rank: 512\n    pet_config:\n      lora_alpha: 16\n"
        << "lora_rank"
        << "model.model_config.pet_config has no lora_rank; refusing to assume a default (MindFormers and "
           "PEFT would)";
    QTest::newRow("both blocks") << "model:\n  model_config:\n    pet_config: {lora_rank: 8, lora_alpha: "
                                    "16}\nlora_config: {lora_rank: 8, lora_alpha: 16}\n"
                                 << "lora_config"
                                 << "both model.model_config.pet_config and lora_config are present; cannot "
                                    "tell which trained the adapter";
    QTest::newRow("no block") << "model:\n  model_config:\n    hidden_size: 32\n"
                              << "pet_config"
                              << "no LoRA settings: neither model.model_config.pet_config nor lora_config";
    QTest::newRow("other pet_type")
        << "model:\n  model_config:\n    pet_config: {pet_type: prefixtuning, lora_rank: 8, lora_alpha: 16}\n"
        << "pet_type"
        << "model.model_config.pet_config.pet_type is \"prefixtuning\", not lora";
    QTest::newRow("alpha is a bool") << "lora_config: {lora_rank: 8, lora_alpha: yes}\n"
                                     << "lora_alpha"
                                     << "lora_config lora_alpha is not a positive number";
    QTest::newRow("rank 8.5") << "lora_config: {lora_rank: 8.5, lora_alpha: 16}\n"
                              << "lora_rank"
                              << "lora_config lora_rank is not an integer";
}

void TestLoraConfig::yamlRefusals() {
    const std::string yaml = fetchText("yaml");
    const std::string parameter = fetchText("parameter");
    const std::string message = fetchText("message");
    auto doc = lms::parseYaml(yaml, "f.yaml");
    QVERIFY(doc);
    auto s = lms::loraSettingsFromYaml(*doc, "dir/f.yaml");
    QVERIFY(!s);
    QCOMPARE(Q(s.error().parameter), Q(parameter));
    QCOMPARE(Q(s.error().message), Q(message));
    QCOMPARE(Q(s.error().file), Q("dir/f.yaml"));
}

void TestLoraConfig::peftScalings_data() {
    QTest::addColumn<QString>("module");
    QTest::addColumn<qint64>("rank");
    QTest::addColumn<double>("scaling");
    QTest::addColumn<QString>("patterns");  // what the plan names as the pair's scaling source
    // The cfg_peft_rslora config: r 16, alpha 32, rsLoRA, rank_pattern {o_proj: 4},
    // alpha_pattern {layers.1.self_attn.v_proj: 8}.
    QTest::newRow("q_proj") << "model.layers.0.self_attn.q_proj" << qint64(16) << 8.0 << "";
    QTest::newRow("layer-0 v_proj") << "model.layers.0.self_attn.v_proj" << qint64(16) << 8.0 << "";
    QTest::newRow("layer-1 v_proj") << "model.layers.1.self_attn.v_proj" << qint64(16) << 2.0
                                    << "alpha_pattern \"layers.1.self_attn.v_proj\"";
    QTest::newRow("layer-11 v_proj") << "model.layers.11.self_attn.v_proj" << qint64(16) << 8.0 << "";
    QTest::newRow("o_proj") << "model.layers.0.self_attn.o_proj" << qint64(4) << 16.0
                            << "rank_pattern \"o_proj\"";
}

void TestLoraConfig::peftScalings() {
    const std::string module = fetchText("module");
    QFETCH(qint64, rank);
    QFETCH(double, scaling);
    auto doc = lms::parseJson(
        R"({"alpha_pattern":{"layers.1.self_attn.v_proj":8},"lora_alpha":32,"peft_type":"LORA",)"
        R"("r":16,"rank_pattern":{"o_proj":4},"target_modules":["q_proj","v_proj","o_proj"],"use_rslora":true})");
    QVERIFY(doc);
    auto s = lms::loraSettingsFromPeft(*doc, "a/adapter_config.json");
    QVERIFY(s);
    auto got = s->scalingFor(module, rank);
    QVERIFY2(got, got ? "" : got.error().message.c_str());
    QCOMPARE(*got, scaling);
    QCOMPARE(Q(s->patternsFor(module)), Q(fetchText("patterns")));
    s->useRslora = false;
    QCOMPARE(*s->scalingFor(module, rank), scaling * std::sqrt(double(rank)) / double(rank));
}

void TestLoraConfig::rankCrossCheck() {
    lms::LoraSettings s;
    s.alpha = 32;
    s.rank = 8;
    s.file = "x/finetune.yaml";
    auto bad = s.scalingFor("model.layers.0.attention.wq", 4);
    QVERIFY(!bad);
    QCOMPARE(Q(bad.error().message), Q("the LoRA weights have r = 4 but finetune.yaml says r = 8"));
    QCOMPARE(Q(bad.error().parameter), Q("model.layers.0.attention.wq"));
    // Through the engine's ScalingSpec: config used per pair, an explicit scaling wins.
    lms::ScalingSpec spec;
    spec.config = std::make_shared<const lms::LoraSettings>(s);
    lms::LoraPair pair;
    pair.base = "model.layers.0.attention.wq.weight";
    pair.rank = 8;
    QCOMPARE(*spec.scalingFor(pair), 4.0);
    spec.scaling = 2.0;
    QCOMPARE(*spec.scalingFor(pair), 2.0);
}

void TestLoraConfig::discovery() {
    QTemporaryDir dir;
    const std::filesystem::path root = dir.path().toStdString();
    auto write = [](const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; };
    write(root / "model.ckpt", "x");
    QCOMPARE(*lms::findLoraConfig(root / "model.ckpt"), std::filesystem::path());
    write(root / "other.yaml",
          "model:\n  model_config:\n    hidden_size: 32\n");  // no LoRA block: not a candidate
    QCOMPARE(*lms::findLoraConfig(root / "model.ckpt"), std::filesystem::path());
    write(root / "finetune.yaml", "lora_config: {lora_rank: 8, lora_alpha: 16}\n");
    QCOMPARE(*lms::findLoraConfig(root / "model.ckpt"), root / "finetune.yaml");
    write(root / "again.yml", "lora_config: {lora_rank: 8, lora_alpha: 8}\n");
    auto several = lms::findLoraConfig(root / "model.ckpt");
    QVERIFY(!several);
    QCOMPARE(Q(several.error().message),
             Q("several LoRA configs could be meant: " + (root / "again.yml").string() + ", " +
               (root / "finetune.yaml").string() + "; pass --lora_config FILE"));
    std::filesystem::create_directory(root / "adapter");
    write(root / "adapter" / "adapter_config.json", "{}");
    QCOMPARE(*lms::findLoraConfig(root / "adapter"), root / "adapter" / "adapter_config.json");
}

namespace {
void writeText(const std::filesystem::path& p, const std::string& text) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
}
}  // namespace

// mindformers_adapter_config.json as MindFormers' read_adapter_config accepts it: the v1 format
// string and a lora_config with lora_rank or r.
void TestLoraConfig::manifests_data() {
    QTest::addColumn<QString>("json");
    QTest::addColumn<qint64>("rank");
    QTest::addColumn<double>("scaling");
    QTest::addColumn<QString>("provenance");
    QTest::addColumn<QString>("fingerprint");
    QTest::newRow("lora_rank, lora_alpha")
        << R"({"format":"mindformers_pynative_lora_adapter_v1","base_fingerprint":"sha256:ab12",)"
           R"("lora_config":{"lora_rank":8,"lora_alpha":16,"target_modules":".*linear_q.*"}})"
        << qint64(8) << 2.0 << "from mindformers_adapter_config.json: lora_config lora_alpha 16, lora_rank 8"
        << "sha256:ab12";
    QTest::newRow("r, lora_alpha, no fingerprint")
        << R"({"format":"mindformers_pynative_lora_adapter_v1","lora_config":{"r":4,"lora_alpha":2}})"
        << qint64(4) << 0.5 << "from mindformers_adapter_config.json: lora_config lora_alpha 2, r 4"
        << "";
    QTest::newRow("both keys agree, MLA decoys")
        << R"({"format":"mindformers_pynative_lora_adapter_v1","base_fingerprint":"f",)"
           R"("lora_config":{"kv_lora_rank":512,"q_lora_rank":1536,"lora_rank":16,"r":16,"lora_alpha":32}})"
        << qint64(16) << 2.0
        << "from mindformers_adapter_config.json: lora_config lora_alpha 32, lora_rank 16"
        << "f";
    QTest::newRow("rsLoRA")
        << R"({"format":"mindformers_pynative_lora_adapter_v1","lora_config":{"r":16,"lora_alpha":32,"use_rslora":true}})"
        << qint64(16) << 8.0
        << "from mindformers_adapter_config.json: lora_config lora_alpha 32, r 16, use_rslora (alpha/√r)"
        << "";
}

void TestLoraConfig::manifests() {
    const std::string json = fetchText("json");
    QFETCH(qint64, rank);
    QFETCH(double, scaling);
    const std::string provenance = fetchText("provenance");
    const std::string fingerprint = fetchText("fingerprint");
    QTemporaryDir dir;
    const std::filesystem::path file =
        std::filesystem::path(dir.path().toStdString()) / "mindformers_adapter_config.json";
    writeText(file, json);
    auto s = lms::readLoraConfig(file);
    QVERIFY2(s, s ? "" : s.error().message.c_str());
    QCOMPARE(int(s->kind), int(lms::LoraConfigKind::MindFormersManifest));
    QCOMPARE(s->rank, rank);
    QCOMPARE(Q(s->provenance), Q(provenance));
    QCOMPARE(Q(s->baseFingerprint), Q(fingerprint));
    QCOMPARE(*s->scalingFor("model.layers.0.attention.linear_q", rank), scaling);
}

void TestLoraConfig::manifestRefusals_data() {
    QTest::addColumn<QString>("json");
    QTest::addColumn<QString>("parameter");
    QTest::addColumn<QString>("message");
    QTest::newRow("other format")
        << R"({"format":"mindformers_pynative_lora_adapter_v2","lora_config":{"r":8,"lora_alpha":16}})"
        << "format"
        << "unsupported MindFormers adapter manifest format \"mindformers_pynative_lora_adapter_v2\" "
           "(expected "
           "\"mindformers_pynative_lora_adapter_v1\")";
    QTest::newRow("no format") << R"({"lora_config":{"r":8,"lora_alpha":16}})"
                               << "format"
                               << "unsupported MindFormers adapter manifest format (none) (expected "
                                  "\"mindformers_pynative_lora_adapter_v1\")";
    QTest::newRow("lora_config is a string")
        << R"({"format":"mindformers_pynative_lora_adapter_v1","lora_config":"r=8"})"
        << "lora_config"
        << "the manifest has no lora_config object";
    QTest::newRow("no alpha")
        << R"({"format":"mindformers_pynative_lora_adapter_v1","lora_config":{"r":8}})"
        << "lora_alpha"
        << "mindformers_adapter_config.json: lora_config has no lora_alpha; refusing to "
           "assume a default (MindFormers and PEFT would)";
    QTest::newRow("rank only as kv_lora_rank")
        << R"({"format":"mindformers_pynative_lora_adapter_v1","lora_config":{"kv_lora_rank":512,"lora_alpha":16}})"
        << "r"
        << "mindformers_adapter_config.json: lora_config has no r; refusing to assume a default (MindFormers "
           "and PEFT would)";
    QTest::newRow("lora_rank and r disagree")
        << R"({"format":"mindformers_pynative_lora_adapter_v1","lora_config":{"lora_rank":8,"r":4,"lora_alpha":16}})"
        << "r"
        << "lora_config has lora_rank 8 but r 4; cannot tell which trained the adapter";
}

void TestLoraConfig::manifestRefusals() {
    const std::string json = fetchText("json");
    const std::string parameter = fetchText("parameter");
    const std::string message = fetchText("message");
    QTemporaryDir dir;
    const std::filesystem::path file =
        std::filesystem::path(dir.path().toStdString()) / "mindformers_adapter_config.json";
    writeText(file, json);
    auto s = lms::readLoraConfig(file);
    QVERIFY(!s);
    QCOMPARE(Q(s.error().parameter), Q(parameter));
    QCOMPARE(Q(s.error().message), Q(message));
    QCOMPARE(Q(s.error().file), Q(file.string()));
}

// The manifest is looked for in the folder and up to three parents, nearest first, before
// adapter_config.json and YAML files (MindFormers read_adapter_config).
void TestLoraConfig::manifestDiscovery() {
    QTemporaryDir dir;
    const std::filesystem::path root = dir.path().toStdString();
    const std::filesystem::path deep = root / "a" / "b" / "c" / "d";
    writeText(deep / "adapter.ckpt", "x");
    writeText(deep / "adapter_config.json", "{}");
    writeText(root / "mindformers_adapter_config.json", "{}");  // four levels up: too far
    QCOMPARE(*lms::findLoraConfig(deep / "adapter.ckpt"), deep / "adapter_config.json");
    writeText(root / "a" / "mindformers_adapter_config.json", "{}");  // three levels up
    QCOMPARE(*lms::findLoraConfig(deep / "adapter.ckpt"), root / "a" / "mindformers_adapter_config.json");
    QCOMPARE(*lms::findLoraConfig(deep), root / "a" / "mindformers_adapter_config.json");
    writeText(deep / "finetune.yaml", "lora_config: {lora_rank: 8, lora_alpha: 16}\n");
    writeText(root / "a" / "b" / "mindformers_adapter_config.json", "{}");  // nearer wins, YAML too
    QCOMPARE(*lms::findLoraConfig(deep / "adapter.ckpt"),
             root / "a" / "b" / "mindformers_adapter_config.json");
    std::filesystem::remove(root / "a" / "b" / "mindformers_adapter_config.json");
    std::filesystem::remove(root / "a" / "mindformers_adapter_config.json");
    auto several = lms::findLoraConfig(deep / "adapter.ckpt");  // adapter_config.json beside a file counts
    QVERIFY(!several);
    QCOMPARE(Q(several.error().message),
             Q("several LoRA configs could be meant: " + (deep / "adapter_config.json").string() + ", " +
               (deep / "finetune.yaml").string() + "; pass --lora_config FILE"));
}

// Which modules target_modules selects, matched as each trainer matches it.
void TestLoraConfig::targetModules_data() {
    QTest::addColumn<QString>("config");  // yaml (MindFormers) or json (PEFT)
    QTest::addColumn<QString>("module");
    QTest::addColumn<bool>("targeted");
    const QString mf =
        QStringLiteral("lora_config: {lora_rank: 8, lora_alpha: 16, target_modules: '.*wq|.*wk'}\n");
    QTest::newRow("MF regex on the attribute") << mf << "model.layers.0.attention.wq" << true;
    QTest::newRow("MF re.match is not anchored at the end") << mf << "model.layers.0.attention.wq_x" << true;
    QTest::newRow("MF only the attribute name counts") << mf << "model.wq.attention.wo" << false;
    QTest::newRow("MF default-style regex")
        << "lora_config: {lora_rank: 8, lora_alpha: 16, target_modules: 'dense'}\n"
        << "model.layers.0.mlp.dense_h" << true;
    QTest::newRow("MF re.match anchors at the start")
        << "lora_config: {lora_rank: 8, lora_alpha: 16, target_modules: 'dense'}\n"
        << "model.layers.0.mlp.out_dense" << false;
    QTest::newRow("MF exclude_layers skips the subtree")
        << "lora_config: {lora_rank: 8, lora_alpha: 16, target_modules: '.*wq', exclude_layers: ['layers']}\n"
        << "model.layers.0.attention.wq" << false;
    const QString peftList =
        QStringLiteral(R"({"r":8,"lora_alpha":16,"target_modules":["q_proj","v_proj"]})");
    QTest::newRow("PEFT list suffix") << peftList << "model.layers.0.self_attn.q_proj" << true;
    QTest::newRow("PEFT list whole name") << peftList << "q_proj" << true;
    QTest::newRow("PEFT list needs a dot") << peftList << "model.layers.0.self_attn.xq_proj" << false;
    const QString peftRegex = QStringLiteral(R"({"r":8,"lora_alpha":16,"target_modules":".*\\.(q|v)_proj"})");
    QTest::newRow("PEFT string is re.fullmatch") << peftRegex << "model.layers.0.self_attn.v_proj" << true;
    QTest::newRow("PEFT fullmatch, not a prefix")
        << peftRegex << "model.layers.0.self_attn.v_proj.x" << false;
    QTest::newRow("PEFT exclude_modules")
        << R"({"r":8,"lora_alpha":16,"target_modules":["q_proj"],"exclude_modules":["layers.1.self_attn.q_proj"]})"
        << "model.layers.1.self_attn.q_proj" << false;
    QTest::newRow("PEFT all-linear is not checked")
        << R"({"r":8,"lora_alpha":16,"target_modules":"all-linear"})"
        << "model.layers.0.self_attn.q_proj" << false;
    QTest::newRow("PEFT layers_to_transform is not checked")
        << R"({"r":8,"lora_alpha":16,"target_modules":["q_proj"],"layers_to_transform":[0]})"
        << "model.layers.0.self_attn.q_proj" << false;
}

void TestLoraConfig::targetModules() {
    const std::string config = fetchText("config");
    const std::string module = fetchText("module");
    QFETCH(bool, targeted);
    QTemporaryDir dir;
    const std::filesystem::path file = std::filesystem::path(dir.path().toStdString()) /
                                       (config.front() == '{' ? "adapter_config.json" : "f.yaml");
    writeText(file, config);
    auto s = lms::readLoraConfig(file);
    QVERIFY2(s, s ? "" : s.error().message.c_str());
    QCOMPARE(s->targets(module), targeted);
}

// The targeted weights without a pair, from a plan: pairs (also problem pairs) cover their base;
// 1-D weights, LoRA tensors, optimizer copies and integer weights never count.
void TestLoraConfig::untargeted() {
    auto t = [](std::string name, std::vector<int64_t> dims, lms::DType dtype = lms::DType::Float32) {
        lms::SourceTensor x;
        x.name = std::move(name);
        x.dims = std::move(dims);
        x.dtype = dtype;
        x.typeName = dtype == lms::DType::Float32 ? "Float32" : "Int8";
        return x;
    };
    const std::vector<lms::SourceTensor> tensors{
        t("model.layers.0.attention.wq.weight", {8, 4}),
        t("model.layers.0.attention.wq.mindpet_delta_lora_a", {2, 4}),
        t("model.layers.0.attention.wq.mindpet_delta_lora_b", {8, 2}),
        t("model.layers.0.attention.wk.weight", {8, 4}),
        t("model.layers.0.attention.wv.weight", {8, 4}, lms::DType::Int8),
        t("model.layers.0.attention.wv_norm.weight", {8}),
        t("adam_m.model.layers.1.attention.wq.weight", {8, 4}),
        t("model.layers.1.attention.wq.weight", {8, 4}),
    };
    const auto plan = lms::planLora(tensors);
    lms::LoraSettings s;
    s.kind = lms::LoraConfigKind::MindFormersYamlPetConfig;
    s.targetModules = {".*wq|.*wk|.*wv"};
    QCOMPARE(lms::untargetedWeights(tensors, plan, s),
             (std::vector<std::string>{"model.layers.0.attention.wk.weight",
                                       "model.layers.1.attention.wq.weight"}));
    QCOMPARE(Q(s.targetModulesText()), Q("\".*wq|.*wk|.*wv\""));
    s.kind = lms::LoraConfigKind::Peft;
    s.targetModules = {"wq", "base_layer"};
    QCOMPARE(lms::untargetedWeights(tensors, plan, s),
             (std::vector<std::string>{"model.layers.1.attention.wq.weight"}));
    QCOMPARE(Q(s.targetModulesText()), Q("[wq, base_layer]"));
    s.targetModules.clear();
    QVERIFY(lms::untargetedWeights(tensors, plan, s).empty());
}

// S-LoRA: lora_adapter.json maps names to folders; each folder's adapter_config.json gives that
// adapter's scaling (MindFormers calculate_scaling: alpha/r, alpha/√r with use_rslora).
void TestLoraConfig::slora() {
    QTemporaryDir dir;
    const std::filesystem::path root = dir.path().toStdString();
    writeText(root / "math" / "adapter_config.json", R"({"peft_type":"LORA","r":8,"lora_alpha":16})");
    writeText(root / "abs" / "adapter_config.json", R"({"r":16,"lora_alpha":32,"use_rslora":true})");
    writeText(root / "slora" / "lora_adapter.json",
              R"({"math": "../math", "code": ")" + (root / "abs").string() + R"("})");
    auto adapters = lms::readSloraAdapters(root / "slora" / "lora_adapter.json");
    QVERIFY2(adapters, adapters ? "" : adapters.error().message.c_str());
    QCOMPARE(adapters->size(), size_t(2));
    QCOMPARE(Q((*adapters)[0].name), Q("math"));
    QCOMPARE((*adapters)[0].checkpoint, root / "slora" / "../math" / "adapter_model.ckpt");
    QCOMPARE(*(*adapters)[0].settings.scalingFor("m.wq", 8), 2.0);
    QCOMPARE(Q((*adapters)[1].name), Q("code"));
    QCOMPARE((*adapters)[1].checkpoint, root / "abs" / "adapter_model.ckpt");
    QCOMPARE(*(*adapters)[1].settings.scalingFor("m.wq", 16), 8.0);
    QCOMPARE(Q((*adapters)[1].settings.provenance),
             Q("from adapter_config.json: r 16, lora_alpha 32, use_rslora (alpha/√r)"));
    // The map itself is no config: it names several.
    auto asConfig = lms::readLoraConfig(root / "slora" / "lora_adapter.json");
    QVERIFY(!asConfig);
    QCOMPARE(Q(asConfig.error().message),
             Q("an S-LoRA lora_adapter.json maps several adapters; give it as --adapter and choose one with "
               "--adapter_name"));
}

void TestLoraConfig::sloraRefusals_data() {
    QTest::addColumn<QString>("map");
    QTest::addColumn<QString>("file");  // the file the error names, relative to the folder
    QTest::addColumn<QString>("message");
    QTest::newRow("not an object") << R"(["math"])"
                                   << "lora_adapter.json"
                                   << "an S-LoRA lora_adapter.json must map adapter names to folders";
    QTest::newRow("empty") << "{}"
                           << "lora_adapter.json"
                           << "an S-LoRA lora_adapter.json must map adapter names to folders";
    QTest::newRow("path is a number") << R"({"math": 3})"
                                      << "lora_adapter.json"
                                      << "the folder of adapter \"math\" is not a path";
    QTest::newRow("no adapter_config.json") << R"({"gone": "gone"})"
                                            << "lora_adapter.json"
                                            << "adapter \"gone\" has no adapter_config.json in {dir}/gone";
    QTest::newRow("adapter_config.json without alpha")
        << R"({"noalpha": "noalpha"})"
        << "noalpha/adapter_config.json"
        << "adapter_config.json has no lora_alpha; refusing to assume a default (MindFormers and PEFT would)";
}

void TestLoraConfig::sloraRefusals() {
    const std::string map = fetchText("map");
    const std::string file = fetchText("file");
    QString message = QString::fromStdString(fetchText("message"));
    QTemporaryDir dir;
    const std::filesystem::path root = dir.path().toStdString();
    writeText(root / "noalpha" / "adapter_config.json", R"({"r":8})");
    writeText(root / "lora_adapter.json", map);
    auto adapters = lms::readSloraAdapters(root / "lora_adapter.json");
    QVERIFY(!adapters);
    QCOMPARE(Q(adapters.error().message),
             message.replace(QStringLiteral("{dir}"), QString::fromStdString(root.string())));
    QCOMPARE(Q(adapters.error().file), Q((root / file).string()));
}

QTEST_GUILESS_MAIN(TestLoraConfig)
#include "tst_loraconfig.moc"
