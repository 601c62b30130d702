// The .ckpt writer (spec §1.3): record format, chunking with full dims, atomic output.
#include "TestSupport.h"
#include "lms/formats/CheckpointWriter.h"

#include <QTemporaryDir>
#include <QtTest>

using namespace lms;
using namespace lms::test;

class TestCheckpointWriter : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::filesystem::path dir() const { return tmp_.path().toStdString(); }

private slots:
    void chunksLargeTensors_data() {
        QTest::addColumn<int>("bytes");
        QTest::addColumn<int>("chunk");
        QTest::addColumn<int>("records");
        QTest::newRow("exact-multiple") << 1024 << 256 << 4;
        QTest::newRow("remainder") << 1000 << 256 << 4;
        QTest::newRow("one-chunk") << 100 << 256 << 1;
        QTest::newRow("empty") << 0 << 256 << 1;
    }
    void chunksLargeTensors() {
        QFETCH(int, bytes);
        QFETCH(int, chunk);
        QFETCH(int, records);
        const auto path = dir() / "chunks.ckpt";
        std::vector<std::byte> content(static_cast<size_t>(bytes));
        for (size_t i = 0; i < content.size(); ++i) content[i] = std::byte(i * 7);
        auto writer = CheckpointWriter::create(path, {});
        QVERIFY(writer);
        writer->setMaxChunkBytes(uint64_t(chunk));
        const std::vector<int64_t> dims{int64_t(bytes)};
        // Streamed in odd-sized pieces that do not line up with the chunks.
        QVERIFY(writer->beginTensor("blob", "UInt8", dims, uint64_t(bytes)));
        for (size_t at = 0; at < content.size(); at += 97)
            QVERIFY(
                writer->append(std::span(content).subspan(at, std::min<size_t>(97, content.size() - at))));
        QVERIFY(writer->writeTensor("after", "Int32", std::vector<int64_t>{1},
                                    std::vector<std::byte>(4, std::byte{9})));
        QVERIFY(writer->commit());
        QVERIFY(!std::filesystem::exists(path.string() + ".tmp"));
        auto file = CheckpointFile::open(path);
        QVERIFY(file);
        const auto& blob = (*file)->tensors()[0];
        QCOMPARE(int(blob.records.size()), records);
        QCOMPARE(blob.dims, dims);  // every chunk carries the full dims (the reader checks they agree)
        QCOMPARE(*(*file)->readTensor(blob), content);
        QCOMPARE((*file)->tensors()[1].name, std::string("after"));
    }

    void refusesOverflowAndShortTensors() {
        auto writer = CheckpointWriter::create(dir() / "short.ckpt", {});
        QVERIFY(writer);
        QVERIFY(writer->beginTensor("x", "Float32", std::vector<int64_t>{2}, 8));
        QVERIFY(!writer->append(std::vector<std::byte>(12)));
        QVERIFY(writer->append(std::vector<std::byte>(4)));
        const auto st = writer->commit();
        QVERIFY(!st);
        QVERIFY(st.error().message.find("not completely written") != std::string::npos);
    }

    void abandonedOutputLeavesNothing() {
        const auto path = dir() / "abandoned" / "out.ckpt";
        std::filesystem::create_directories(path.parent_path());
        {
            auto writer = CheckpointWriter::create(path, {});
            QVERIFY(writer);
            QVERIFY(writer->writeTensor("x", "Float32", std::vector<int64_t>{1}, std::vector<std::byte>(4)));
            QVERIFY(std::filesystem::exists(writer->tempPath()));  // readable while pending (verification)
            QVERIFY(!std::filesystem::exists(path));
        }
        QVERIFY(listFiles(path.parent_path()).empty());
        auto writer = CheckpointWriter::create(path, {});
        QVERIFY(writer->writeTensor("x", "Float32", std::vector<int64_t>{1}, std::vector<std::byte>(4)));
        QVERIFY(writer->finish());
        writer->abandon();  // finished but not published: still removed
        QVERIFY(listFiles(path.parent_path()).empty());
    }

    void refusesToOverwriteAnInput() {
        const auto input = dir() / "input.ckpt";
        writeCheckpoint(input, {{"x", "Float32", {1}, std::vector<std::byte>(4)}});
        const auto before = readFileBytes(input);
        auto writer = CheckpointWriter::create(input, {input});
        QVERIFY(!writer);
        QCOMPARE(writer.error().code, ErrorCode::InvalidArgument);
        QCOMPARE(readFileBytes(input), before);
    }

    void unwritableFolderIsAnIoError() {
        auto writer = CheckpointWriter::create(dir() / "no" / "such" / "folder" / "x.ckpt", {});
        QVERIFY(!writer);
        QCOMPARE(writer.error().code, ErrorCode::Io);
        QVERIFY(writer.error().file.ends_with("folder/x.ckpt"));  // the output asked for, not a temp name
    }
};

QTEST_GUILESS_MAIN(TestCheckpointWriter)
#include "tst_checkpointwriter.moc"
