// No side effects (docs/RELIABILITY.md): plan, inspect and strategy show over a pipeline
// strategy FOLDER leave the whole input tree byte-identical (the folder is merged in memory);
// only merge writes merged_ckpt_strategy.ckpt into it, as the MindFormers user guide promises.
// Runs LMS_BINARY_DIR/app/loramerge (tests/CMakeLists.txt makes this test depend on it).
#include "TestSupport.h"
#include "lms/formats/Strategy.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

using namespace lms;
using namespace lms::test;
namespace fs = std::filesystem;

namespace {

QString qs(const fs::path& path) {
    return QString::fromStdString(path.string());
}

QStringList list(std::initializer_list<const char*> items) {
    QStringList out;
    for (const char* item : items) out << QString::fromUtf8(item);
    return out;
}

struct Run {
    int exitCode = -1;
    QString err;
};

Run runCli(const QStringList& args) {
    QProcess process;
    process.start(cliPath(), args);
    Run run;
    if (!process.waitForFinished(120000)) return run;
    run.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    run.err = QString::fromUtf8(process.readAllStandardError());
    return run;
}

}  // namespace

class TestSideEffects : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    fs::path root() const { return tmp_.path().toStdString(); }
    fs::path input() const { return root() / "dist_tp2_pp2" / "input"; }
    QString fixturesWhy_;

private slots:
    void initTestCase() { fixturesWhy_ = generateFixtures(root(), {QStringLiteral("dist_tp2_pp2")}); }

    void readOnlyCommandsWriteNothing_data() {
        QTest::addColumn<QStringList>("args");  // {ckpt} and {strategy} are replaced
        QTest::addColumn<int>("exitCode");
        QTest::newRow("plan") << list({"plan", "--src_ckpt_path_or_dir", "{ckpt}", "--src_ckpt_strategy",
                                       "{strategy}", "--lora_scaling", "2"})
                              << 0;
        QTest::newRow("plan with a destination")
            << list({"plan", "--src_ckpt_path_or_dir", "{ckpt}", "--src_ckpt_strategy", "{strategy}",
                     "--dst_ckpt_dir", "{out}", "--lora_scaling", "2"})
            << 0;
        QTest::newRow("plan that would be refused (no scaling)")
            << list({"plan", "--src_ckpt_path_or_dir", "{ckpt}", "--src_ckpt_strategy", "{strategy}",
                     "--dst_ckpt_dir", "{out}"})
            << 1;
        QTest::newRow("inspect a rank file") << list({"inspect", "{ckpt}/rank_2/checkpoint_2.ckpt"}) << 0;
        QTest::newRow("strategy show")
            << list({"strategy", "show", "{strategy}/ckpt_strategy_rank_0.ckpt"}) << 0;
    }
    void readOnlyCommandsWriteNothing() {
        if (!fixturesWhy_.isEmpty()) QSKIP(qPrintable(fixturesWhy_));
        QFETCH(QStringList, args);
        QFETCH(int, exitCode);
        const auto out = root() / "never-written";
        for (auto& arg : args)
            arg.replace(QStringLiteral("{ckpt}"), qs(input() / "ckpt"))
                .replace(QStringLiteral("{strategy}"), qs(input() / "strategy"))
                .replace(QStringLiteral("{out}"), qs(out));
        const auto before = treeDigest(input());
        const auto run = runCli(args);
        QVERIFY2(run.exitCode == exitCode, qPrintable(run.err));
        QCOMPARE(treeDigest(input()), before);  // no merged_ckpt_strategy.ckpt, nothing changed
        QVERIFY(!fs::exists(input() / "strategy" / kMergedStrategyFileName));
        QVERIFY(!fs::exists(out));
    }

    // The one documented write: merge given the strategy folder puts the merged strategy there.
    void mergeWritesTheMergedStrategy() {
        if (!fixturesWhy_.isEmpty()) QSKIP(qPrintable(fixturesWhy_));
        const auto run = runCli(QStringList{QStringLiteral("--src_ckpt_path_or_dir"), qs(input() / "ckpt"),
                                            QStringLiteral("--src_ckpt_strategy"), qs(input() / "strategy"),
                                            QStringLiteral("--dst_ckpt_dir"), qs(root() / "merged"),
                                            QStringLiteral("--lora_scaling"), QStringLiteral("2"),
                                            QStringLiteral("--quiet")});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        QCOMPARE(readFileBytes(input() / "strategy" / kMergedStrategyFileName),
                 readFileBytes(root() / "dist_tp2_pp2" / "expected" / "merged_ckpt_strategy.ckpt"));
        fs::remove(input() / "strategy" / kMergedStrategyFileName);  // leave the fixture as generated
    }
};

QTEST_GUILESS_MAIN(TestSideEffects)
#include "tst_sideeffects.moc"
