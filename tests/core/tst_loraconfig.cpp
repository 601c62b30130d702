// Tests for lms::LoraSettings and its readers: MindFormers YAML (pet_config / PyNative lora_config),
// PEFT adapter_config.json (rank_pattern/alpha_pattern, rsLoRA), the rank cross-check, the refusals
// (never a default alpha) and discovery.

#include "lms/lora/LoraConfig.h"
#include "lms/lora/Yaml.h"
#include "lms/merge/Merge.h"

#include <QTemporaryDir>
#include <QtTest>
#include <fstream>
#include <memory>

namespace {
QString Q(const std::string& s) {
    return QString::fromStdString(s);
}
// A QString column of the current row as UTF-8 (what QFETCH would give, converted).
std::string fetchText(const char* column) {
    return static_cast<QString*>(QTest::qData(column, qMetaTypeId<QString>()))->toStdString();
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
    // The cfg_peft_rslora config: r 16, alpha 32, rsLoRA, rank_pattern {o_proj: 4},
    // alpha_pattern {layers.1.self_attn.v_proj: 8}.
    QTest::newRow("q_proj") << "model.layers.0.self_attn.q_proj" << qint64(16) << 8.0;
    QTest::newRow("layer-0 v_proj") << "model.layers.0.self_attn.v_proj" << qint64(16) << 8.0;
    QTest::newRow("layer-1 v_proj") << "model.layers.1.self_attn.v_proj" << qint64(16) << 2.0;
    QTest::newRow("layer-11 v_proj") << "model.layers.11.self_attn.v_proj" << qint64(16) << 8.0;
    QTest::newRow("o_proj") << "model.layers.0.self_attn.o_proj" << qint64(4) << 16.0;
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

QTEST_GUILESS_MAIN(TestLoraConfig)
#include "tst_loraconfig.moc"
