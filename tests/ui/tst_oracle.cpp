// The studio against the independent oracle (../shared/interop/msfixtures.py): every fixture
// scenario is opened in the window, merged with the Merge button, and the output compared by
// the oracle; the broken scenarios must end in an error shown in words, with the window alive.

#include "EnglishPlurals.h"
#include "LogModel.h"
#include "MainWindow.h"
#include "MergePanel.h"
#include "Prompts.h"
#include "TestSupport.h"
#include "Widgets.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QLineEdit>
#include <QProcess>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

using namespace lms::ui;

class TestOracle : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void scenario_data();
    void scenario();

private:
    QString m_oracle;
    QTemporaryDir m_fixtures;
    ScriptedPrompts m_prompts;
};

void TestOracle::initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    installEnglishPlurals();
    setPrompts(&m_prompts);
    const auto shared = lms::test::sharedDir();
    m_oracle = QString::fromStdString((shared / "interop" / "msfixtures.py").string());
    if (shared.empty() || !QFileInfo::exists(m_oracle) ||
        !QFileInfo::exists(QStringLiteral("/usr/bin/python3")))
        QSKIP(
            "the fixture generator ../shared/interop/msfixtures.py (with /usr/bin/python3) is not available");
    QProcess generate;
    generate.start(QStringLiteral("/usr/bin/python3"),
                   {m_oracle, QStringLiteral("generate"), m_fixtures.path()});
    QVERIFY(generate.waitForFinished(120000));
    if (generate.exitCode() != 0)
        QSKIP(qPrintable(QStringLiteral("msfixtures.py generate failed (numpy missing?): ") +
                         QString::fromLocal8Bit(generate.readAllStandardError())));
}

void TestOracle::scenario_data() {
    QTest::addColumn<QString>("name");
    // Scenarios the studio's merge covers: one full or distributed checkpoint with its LoRA
    // pairs merged into one .ckpt (adapters in separate files, resharding and safetensors
    // output are CLI features).
    for (const char* name :
         {"full_bf16", "full_fp16", "full_fp32", "full_chunked", "full_legacy_tk", "full_mcore_naming",
          "dist_tp2", "dist_tp2_pp2", "dist_dp2_tp2_optshard", "bad_encrypted", "bad_garbage",
          "bad_missing_lora_b", "bad_missing_rank", "bad_not_checkpoint", "bad_shape_mismatch",
          "bad_truncated", "dist_frozen_base_missing"})
        QTest::newRow(name) << QString::fromLatin1(name);
}

void TestOracle::scenario() {
    QFETCH(QString, name);
    const QDir dir(m_fixtures.filePath(name));
    QFile file(dir.filePath(QStringLiteral("scenario.json")));
    QVERIFY(file.open(QIODevice::ReadOnly));
    const auto spec = QJsonDocument::fromJson(file.readAll()).object();
    const QString src = dir.filePath(spec.value(QStringLiteral("src")).toString());
    const QString strategy = spec.value(QStringLiteral("strategy")).isString()
                                 ? dir.filePath(spec.value(QStringLiteral("strategy")).toString())
                                 : QString();
    const bool expectMerged = spec.value(QStringLiteral("expect")).toString() == QLatin1StringView("merged");

    LogModel log;
    MainWindow window(&log);
    window.show();
    QSignalSpy shown(&window, &MainWindow::modelShown);
    QSignalSpy failed(&window, &MainWindow::openFailed);
    window.openPath(src, strategy);
    QTRY_VERIFY_WITH_TIMEOUT(shown.count() + failed.count() == 1, 20000);
    if (failed.count()) {
        QVERIFY2(!expectMerged, qPrintable(window.messageBar()->text()));
        QVERIFY(window.messageBar()->isVisible());
        QCOMPARE(window.messageBar()->kind(), MessageBar::Kind::Error);
        QVERIFY(!window.messageBar()->text().isEmpty());
        return;
    }

    auto* panel = window.mergePanel();
    auto* scaling = panel->findChild<QLineEdit*>(QStringLiteral("scalingEdit"));
    QTest::keyClicks(scaling, QString::number(spec.value(QStringLiteral("lora_scaling")).toDouble()));
    QTemporaryDir out;
    auto* destination = panel->findChild<QLineEdit*>(QStringLiteral("destinationEdit"));
    destination->clear();
    QTest::keyClicks(destination, out.filePath(QStringLiteral("merged")));
    auto* merge = panel->findChild<QPushButton*>(QStringLiteral("mergeButton"));
    QVERIFY(panel->waitForPreview());
    if (!merge->isEnabled()) {
        // A plan problem found before anything is read: the panel says why.
        QVERIFY2(!expectMerged, qPrintable(panel->blockingReason()));
        QVERIFY(!panel->blockingReason().isEmpty());
        return;
    }
    QSignalSpy finished(panel, &MergePanel::mergeFinished);
    QTest::mouseClick(merge, Qt::LeftButton);
    QVERIFY(finished.wait(60000));
    const bool success = finished.at(0).at(0).toBool();
    if (!expectMerged) {
        QVERIFY2(!success, "a broken input was merged");
        QVERIFY(window.messageBar()->isVisible());
        QVERIFY(!finished.at(0).at(2).toString().isEmpty());
        QVERIFY(lms::test::listFiles(out.path().toStdString()).empty());  // nothing left behind
        return;
    }
    QVERIFY2(success, qPrintable(finished.at(0).at(2).toString()));
    QProcess compare;
    compare.start(
        QStringLiteral("/usr/bin/python3"),
        {m_oracle, QStringLiteral("compare"), out.filePath(QStringLiteral("merged/rank_0/checkpoint_0.ckpt")),
         dir.filePath(spec.value(QStringLiteral("expected_ckpt")).toString())});
    QVERIFY(compare.waitForFinished(60000));
    QVERIFY2(compare.exitCode() == 0, compare.readAllStandardOutput().constData());
}

QTEST_MAIN(TestOracle)
#include "tst_oracle.moc"
