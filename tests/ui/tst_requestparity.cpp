// The same merge request gives the same refusal in both front ends: the `loramerge` CLI (its
// last stderr line) and the studio's Merge panel (the hint under the Merge button) both show
// the refusal lms::resolve() returns, and the panel's Merge button is disabled.

#include "EnglishPlurals.h"
#include "MergePanel.h"
#include "TestSupport.h"
#include "UiText.h"
#include "lms/merge/Request.h"

#include <QCheckBox>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QPushButton>
#include <QTemporaryDir>
#include <QtTest>

using namespace lms;
using namespace lms::ui;
using namespace lms::test;
namespace fs = std::filesystem;

namespace {

std::vector<FakeTensor> model(int64_t bRank, bool withBase) {
    std::vector<FakeTensor> tensors;
    if (withBase)
        tensors.push_back(
            {"l0.wq.weight", "Float32", {8, 4}, floatBytes(DType::Float32, randomValues(32, 1))});
    tensors.push_back({"l0.wq.lora_a", "Float32", {2, 4}, floatBytes(DType::Float32, randomValues(8, 2))});
    tensors.push_back({"l0.wq.lora_b",
                       "Float32",
                       {8, bRank},
                       floatBytes(DType::Float32, randomValues(size_t(8 * bRank), 3))});
    return tensors;
}

}  // namespace

class TestRequestParity : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { installEnglishPlurals(); }
    void sameRefusal_data();
    void sameRefusal();
};

void TestRequestParity::sameRefusal_data() {
    QTest::addColumn<QString>("row");
    QTest::addColumn<QString>("message");  // the core's sentence, pinned
    QTest::newRow("pair problems")
        << "problems"
        << "1 LoRA problem(s), nothing was written: l0.wq.weight: rank mismatch: A [2,4] has "
           "r=2 but B [8,3] has r=3 (use --skip-invalid to merge only the valid pairs)";
    QTest::newRow("only LoRA tensors")
        << "adapter"
        << "nothing to merge into: every parameter is a LoRA weight or an optimizer copy "
           "of one (is this a LoRA-only adapter? pass it with --adapter next to the base "
           "checkpoint)";
    QTest::newRow("prefix with a slash") << "prefix"
                                         << "the prefix is part of a file name and must not contain a slash";
    QTest::newRow("destination strategy missing") << "dststrategy"
                                                  << "cannot open for reading: No such file or directory";
    QTest::newRow("output beside the input") << "beside"
                                             << "the output folder {dir}/dst/rank_0 holds an input file "
                                                "(in.ckpt); write the merged checkpoint somewhere else so "
                                                "the source stays untouched";
}

void TestRequestParity::sameRefusal() {
    QFETCH(QString, row);
    QFETCH(QString, message);
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    fs::path src = dir / "in.ckpt";
    if (row == QLatin1StringView("beside")) {
        fs::create_directories(dir / "dst" / "rank_0");
        src = dir / "dst" / "rank_0" / "in.ckpt";
    }
    writeCheckpoint(src,
                    model(row == QLatin1StringView("problems") ? 3 : 2, row != QLatin1StringView("adapter")));
    const QString prefix =
        row == QLatin1StringView("prefix") ? QStringLiteral("a/b_") : QStringLiteral("checkpoint_");
    const bool skipInvalid = row == QLatin1StringView("adapter");
    const QString dstStrategy =
        row == QLatin1StringView("dststrategy") ? qs(dir / "none_strategy.ckpt") : QString();

    // The request, as resolve() sees it.
    MergeRequest request;
    request.source.path = src;
    request.destination.dir = dir / "dst";
    request.destination.prefix = prefix.toStdString();
    request.scaling.spec.alpha = 16;
    request.options.skipInvalid = skipInvalid;
    request.destination.strategy = dstStrategy.toStdString();
    const auto resolution = resolve(request);
    QVERIFY(!resolution.refusals.empty());
    const auto& error = resolution.refusals.front().error;
    QCOMPARE(qs(error.message), QString(message).replace(QStringLiteral("{dir}"), qs(dir)));

    // The CLI.
    QStringList args{QStringLiteral("merge"),
                     QStringLiteral("--src_ckpt_path_or_dir"),
                     qs(src),
                     QStringLiteral("--dst_ckpt_dir"),
                     qs(dir / "dst"),
                     QStringLiteral("--prefix"),
                     prefix,
                     QStringLiteral("--lora_alpha"),
                     QStringLiteral("16")};
    if (skipInvalid) args << QStringLiteral("--skip-invalid");
    if (!dstStrategy.isEmpty()) args << QStringLiteral("--dst_ckpt_strategy") << dstStrategy;
    QProcess cli;
    cli.start(cliPath(), args);
    QVERIFY(cli.waitForFinished(30000));
    QCOMPARE(cli.exitCode(), 1);
    const auto lines = QString::fromUtf8(cli.readAllStandardError()).trimmed().split(QLatin1Char('\n'));
    QCOMPARE(lines.last(), QStringLiteral("loramerge: error: ") + qs(error.describe()));

    // The studio: the same choices in the Merge panel.
    auto outcome = loadPath({qs(src), {}}, nullptr);
    QVERIFY2(outcome.model, qPrintable(outcome.error));
    MergePanel panel;
    panel.setModel(outcome.model);
    panel.findChild<QLineEdit*>(QStringLiteral("destinationEdit"))->setText(qs(dir / "dst"));
    panel.findChild<QLineEdit*>(QStringLiteral("prefixEdit"))->setText(prefix);
    panel.setSuggestedScaling(16, 0);  // α 16, each pair's r: --lora_alpha 16
    panel.findChild<QCheckBox*>(QStringLiteral("skipInvalidCheck"))->setChecked(skipInvalid);
    panel.findChild<QLineEdit*>(QStringLiteral("dstStrategyEdit"))->setText(dstStrategy);
    QCOMPARE(panel.blockingReason(), errorText(error));
    QCOMPARE(panel.findChild<QLabel*>(QStringLiteral("mergeHintLabel"))->text(), errorText(error));
    QVERIFY(!panel.findChild<QPushButton*>(QStringLiteral("mergeButton"))->isEnabled());
    QVERIFY(!fs::exists(dir / "dst" / "rank_0" / "checkpoint_0.ckpt"));
}

QTEST_MAIN(TestRequestParity)
#include "tst_requestparity.moc"
