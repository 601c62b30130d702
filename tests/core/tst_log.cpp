// The core logger's distribution sink (core/lms/base/Log.h): sinks attached and detached while other
// threads log, each record reaching exactly the sinks attached at that moment.
#include "lms/base/Log.h"

#include <spdlog/sinks/base_sink.h>
#include <QtTest>

#include <atomic>
#include <thread>
#include <vector>

namespace {
// Counts the records it receives and keeps the last payload.
class CountingSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    std::atomic<int> count{0};
    std::string last;

protected:
    void sink_it_(const spdlog::details::log_msg& message) override {
        ++count;
        last.assign(message.payload.data(), message.payload.size());
    }
    void flush_() override {}
};
}  // namespace

class TestLog : public QObject {
    Q_OBJECT
private slots:
    void cleanup() {
        lms::clearLogSinks();
        lms::setLogLevel(spdlog::level::info);
    }

    void recordsReachOnlyAttachedSinks() {
        auto first = std::make_shared<CountingSink>();
        auto second = std::make_shared<CountingSink>();
        lms::log().info("before any sink");
        lms::addLogSink(first);
        lms::log().info("one {}", 1);
        lms::addLogSink(second);
        lms::log().warn("two {}", 2);
        lms::removeLogSink(first);
        lms::log().error("three {}", 3);
        QCOMPARE(first->count.load(), 2);
        QCOMPARE(QString::fromStdString(first->last), QStringLiteral("two 2"));
        QCOMPARE(second->count.load(), 2);
        QCOMPARE(QString::fromStdString(second->last), QStringLiteral("three 3"));
        lms::addLogSink(nullptr);  // ignored, must not crash the next record
        lms::log().info("four");
        QCOMPARE(second->count.load(), 3);
    }

    void levelFilters() {
        auto sink = std::make_shared<CountingSink>();
        lms::addLogSink(sink);
        lms::setLogLevel(spdlog::level::warn);
        lms::log().info("dropped");
        lms::log().debug("dropped");
        lms::log().warn("kept");
        QCOMPARE(sink->count.load(), 1);
        QCOMPARE(QString::fromStdString(sink->last), QStringLiteral("kept"));
    }

    // Sinks come and go while `threads` workers log: no record is lost for the sink attached
    // throughout, and the churning sinks never see a record after their removal.
    void attachWhileOtherThreadsLog_data() {
        QTest::addColumn<int>("threads");
        QTest::addColumn<int>("perThread");
        QTest::newRow("1 thread") << 1 << 2000;
        QTest::newRow("2 threads") << 2 << 1000;
        QTest::newRow("4 threads") << 4 << 500;
    }
    void attachWhileOtherThreadsLog() {
        QFETCH(int, threads);
        QFETCH(int, perThread);
        auto steady = std::make_shared<CountingSink>();
        lms::addLogSink(steady);
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t)
            workers.emplace_back([perThread] {
                for (int i = 0; i < perThread; ++i) lms::log().info("record {}", i);
            });
        for (int round = 0; round < 200; ++round) {
            auto churn = std::make_shared<CountingSink>();
            lms::addLogSink(churn);
            lms::removeLogSink(churn);
            const int seen = churn->count.load();
            lms::log().info("after removal");
            QCOMPARE(churn->count.load(), seen);
        }
        for (auto& worker : workers) worker.join();
        QCOMPARE(steady->count.load(), threads * perThread + 200);
    }
};

QTEST_GUILESS_MAIN(TestLog)
#include "tst_log.moc"
