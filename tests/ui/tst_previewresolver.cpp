// PreviewResolver, the Merge panel's background resolve(): a request never answers on the calling
// thread, the answer is resolve()'s own, and of requests made in quick succession only the last
// one is answered (an older answer never overwrites a newer preview).

#include "PreviewResolver.h"
#include "UiTestHelpers.h"
#include "lms/merge/Demo.h"

#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

using namespace lms;
using namespace lms::ui;
using namespace lms::ui::test;
namespace fs = std::filesystem;

Q_DECLARE_METATYPE(std::shared_ptr<const lms::Resolution>)

class TestPreviewResolver : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void answersAsResolveDoes_data();
    void answersAsResolveDoes();
    void onlyTheLastRequestIsAnswered();
    void clearDropsTheRunningAnswer();

private:
    MergeRequest requestFor(const QString& destination, double scaling) const;
    std::shared_ptr<const Resolution> answerOf(QSignalSpy& spy) const;

    QTemporaryDir m_dir;
    DemoInfo m_demo;
    std::shared_ptr<const LoadedModel> m_model;
};

void TestPreviewResolver::initTestCase() {
    qRegisterMetaType<std::shared_ptr<const Resolution>>();
    auto demo = writeDemo(m_dir.filePath(QStringLiteral("demo")).toStdString());
    QVERIFY2(demo.has_value(), demo ? "" : demo.error().describe().c_str());
    m_demo = *demo;
    m_model = open(openOf(m_demo.fullCheckpoint));
    QVERIFY(m_model);
}

MergeRequest TestPreviewResolver::requestFor(const QString& destination, double scaling) const {
    MergeRequest request;
    request.source.path = m_demo.fullCheckpoint;
    request.destination.dir = toPath(destination);
    if (scaling > 0) {
        request.scaling.spec.scaling = scaling;
        request.scaling.origin = ScalingOrigin::Scaling;
    }
    return request;
}

std::shared_ptr<const Resolution> TestPreviewResolver::answerOf(QSignalSpy& spy) const {
    if (spy.isEmpty()) return nullptr;
    return spy.takeFirst().front().value<std::shared_ptr<const Resolution>>();
}

void TestPreviewResolver::answersAsResolveDoes_data() {
    QTest::addColumn<QString>("destination");  // relative to the temporary folder; "" for none
    QTest::addColumn<double>("scaling");       // 0: none given
    QTest::addColumn<QList<int>>("refusals");  // RefusalCode values, in order
    QTest::newRow("ready") << QStringLiteral("out") << 2.0 << QList<int>{};
    QTest::newRow("no scaling") << QStringLiteral("out") << 0.0 << QList<int>{int(RefusalCode::NoScaling)};
    QTest::newRow("no destination") << QString() << 2.0 << QList<int>{int(RefusalCode::NoDestination)};
    QTest::newRow("neither") << QString() << 0.0
                             << QList<int>{int(RefusalCode::NoDestination), int(RefusalCode::NoScaling)};
}

void TestPreviewResolver::answersAsResolveDoes() {
    QFETCH(QString, destination);
    QFETCH(double, scaling);
    QFETCH(QList<int>, refusals);
    const auto request = requestFor(destination.isEmpty() ? QString() : m_dir.filePath(destination), scaling);
    PreviewResolver resolver;
    QSignalSpy spy(&resolver, &PreviewResolver::resolved);
    resolver.request(request, m_model->source);
    QCOMPARE(spy.count(), 0);  // never answered on the caller's thread
    QVERIFY(resolver.isPending());
    QVERIFY(resolver.wait(10000));
    QCOMPARE(spy.count(), 1);
    const auto answer = answerOf(spy);
    QVERIFY(answer);
    QList<int> codes;
    for (const auto& refusal : answer->refusals) codes << int(refusal.code);
    QCOMPARE(codes, refusals);
    const auto direct = resolve(request, m_model->source);
    QCOMPARE(answer->refusals.size(), direct.refusals.size());
    for (size_t i = 0; i < direct.refusals.size(); ++i)
        QCOMPARE(errorText(answer->refusals[i].error), errorText(direct.refusals[i].error));
    QVERIFY(answer->job && direct.job);
    QCOMPARE(answer->job->outputFiles, direct.job->outputFiles);
    QCOMPARE(answer->job->plan.okPairs, direct.job->plan.okPairs);
    QCOMPARE(answer->job->plan.okPairs, size_t(8));
}

void TestPreviewResolver::onlyTheLastRequestIsAnswered() {
    PreviewResolver resolver;
    QSignalSpy spy(&resolver, &PreviewResolver::resolved);
    for (int i = 1; i <= 5; ++i)
        resolver.request(requestFor(m_dir.filePath(QStringLiteral("out%1").arg(i)), i), m_model->source);
    QVERIFY(resolver.wait(10000));
    QCOMPARE(spy.count(), 1);
    const auto answer = answerOf(spy);
    QVERIFY(answer && answer->ok());
    QVERIFY(qs(answer->job->outputFiles.front()).startsWith(m_dir.filePath(QStringLiteral("out5/"))));
    QCOMPARE(answer->job->pairScaling.front(), 5.0);

    // Once idle, the next request is answered again.
    resolver.request(requestFor(m_dir.filePath(QStringLiteral("again")), 0), m_model->source);
    QVERIFY(resolver.wait(10000));
    QCOMPARE(spy.count(), 1);
    QCOMPARE(answerOf(spy)->refusals.front().code, RefusalCode::NoScaling);
}

void TestPreviewResolver::clearDropsTheRunningAnswer() {
    PreviewResolver resolver;
    QSignalSpy spy(&resolver, &PreviewResolver::resolved);
    resolver.request(requestFor(m_dir.filePath(QStringLiteral("dropped")), 2), m_model->source);
    resolver.request(requestFor(m_dir.filePath(QStringLiteral("waiting")), 2), m_model->source);
    resolver.clear();
    QVERIFY(resolver.wait(10000));
    QVERIFY(!resolver.isPending());
    QCOMPARE(spy.count(), 0);
}

QTEST_MAIN(TestPreviewResolver)
#include "tst_previewresolver.moc"
