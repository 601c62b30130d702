// Slice arithmetic of distributed checkpoints (spec §4): which part of a full tensor each rank
// stores, full-shape inference, coverage, and the contiguous runs used to reassemble.
#include "lms/distributed/Layout.h"

#include <QTest>

#include <cstring>
#include <numeric>

using namespace lms;

using Ints = QList<qlonglong>;

namespace {

std::vector<int64_t> vec(const Ints& values) {
    return std::vector<int64_t>(values.begin(), values.end());
}

// A layout with a flat tensor map (-1 = not split), as MindSpore writes it for ordinary weights.
ParamLayout flatLayout(const Ints& dev, const Ints& map, int step = 0, int size = 0) {
    ParamLayout layout;
    layout.name = std::string(1, 'w');  // (assigning a literal trips GCC 12's -Wrestrict false positive)
    layout.devMatrix = vec(dev);
    for (qlonglong m : map)
        layout.tensorMap.push_back(m == -1 ? std::vector<int32_t>{} : std::vector<int32_t>{int32_t(m)});
    layout.optShardStep = step;
    layout.optShardSize = size;
    layout.stages = {0};
    return layout;
}

ParamLayout nestedLayout(const Ints& dev, const QList<Ints>& map) {
    ParamLayout layout = flatLayout(dev, {});
    layout.nestedTensorMap = true;
    for (const Ints& axes : map) layout.tensorMap.push_back(std::vector<int32_t>(axes.begin(), axes.end()));
    return layout;
}

Ints ints(const std::vector<int64_t>& values) {
    return Ints(values.begin(), values.end());
}

}  // namespace

class TestLayout : public QObject {
    Q_OBJECT

private slots:
    void rankSlice_data();
    void rankSlice();
    void nestedRankSlice_data();
    void nestedRankSlice();
    void sliceErrors_data();
    void sliceErrors();
    void inferFullShape_data();
    void inferFullShape();
    void replicaGroup_data();
    void replicaGroup();
    void optShardPieces_data();
    void optShardPieces();
    void pieces_data();
    void pieces();
    void coverage_data();
    void coverage();
    void contiguousRuns_data();
    void contiguousRuns();
    void roundTrip_data();
    void roundTrip();
};

void TestLayout::rankSlice_data() {
    QTest::addColumn<Ints>("dev");
    QTest::addColumn<Ints>("map");
    QTest::addColumn<int>("step");
    QTest::addColumn<int>("size");
    QTest::addColumn<Ints>("shape");
    QTest::addColumn<qlonglong>("rank");
    QTest::addColumn<Ints>("begin");
    QTest::addColumn<Ints>("end");

    // Spec §4.13 example 1: dev [2,4], map [1,-1], [8,6]: rows split by axis 0.
    for (qlonglong r : {0, 1, 2, 3})
        QTest::addRow("ex1 rank %lld", r)
            << Ints{2, 4} << Ints{1, -1} << 0 << 0 << Ints{8, 6} << r << Ints{0, 0} << Ints{4, 6};
    for (qlonglong r : {4, 5, 6, 7})
        QTest::addRow("ex1 rank %lld", r)
            << Ints{2, 4} << Ints{1, -1} << 0 << 0 << Ints{8, 6} << r << Ints{4, 0} << Ints{8, 6};
    // Example 2: dev [2,4], map [-1,0], [8,8], opt step 4 size -1: the table of §4.13.
    const qlonglong ex2Rows[8][2] = {{0, 4}, {0, 4}, {0, 4}, {0, 4}, {4, 8}, {4, 8}, {4, 8}, {4, 8}};
    for (qlonglong r = 0; r < 8; ++r)
        QTest::addRow("ex2 rank %lld", r)
            << Ints{2, 4} << Ints{-1, 0} << 4 << -1 << Ints{8, 8} << r << Ints{ex2Rows[r][0], 2 * (r % 4)}
            << Ints{ex2Rows[r][1], 2 * (r % 4) + 2};
    // Example 2, size-2 variant: dev [4,2], map [-1,0], [16,4], step 2, size 2.
    const qlonglong variant[8][4] = {{0, 0, 8, 2}, {0, 2, 8, 4}, {8, 0, 16, 2}, {8, 2, 16, 4},
                                     {0, 0, 8, 2}, {0, 2, 8, 4}, {8, 0, 16, 2}, {8, 2, 16, 4}};
    for (qlonglong r = 0; r < 8; ++r)
        QTest::addRow("size-2 variant rank %lld", r)
            << Ints{4, 2} << Ints{-1, 0} << 2 << 2 << Ints{16, 4} << r << Ints{variant[r][0], variant[r][1]}
            << Ints{variant[r][2], variant[r][3]};
    // Example 3 (one stage's layout): dev [2,2], map [0,-1], [8,4]: local ranks 0..3.
    const qlonglong ex3Rows[4] = {0, 4, 0, 4};
    for (qlonglong r = 0; r < 4; ++r)
        QTest::addRow("ex3 local %lld", r) << Ints{2, 2} << Ints{0, -1} << 0 << 0 << Ints{8, 4} << r
                                           << Ints{ex3Rows[r], 0} << Ints{ex3Rows[r] + 4, 4};
    // Two split dims on a 3-axis device matrix: coord(5) = (1,0,1); map [2,0] -> axes 0 and 2.
    QTest::newRow("2x2x2 map [2,0] rank 5")
        << Ints{2, 2, 2} << Ints{2, 0} << 0 << 0 << Ints{4, 4} << 5LL << Ints{2, 2} << Ints{4, 4};
    QTest::newRow("2x2x2 map [2,0] rank 2")
        << Ints{2, 2, 2} << Ints{2, 0} << 0 << 0 << Ints{4, 4} << 2LL << Ints{0, 0} << Ints{2, 2};
    // Opt shard size 2 on a 4-rank replica group {0,1,2,3}: chunks {0,1},{2,3}.
    QTest::newRow("opt size 2 rank 0")
        << Ints{2, 4} << Ints{1, -1} << 1 << 2 << Ints{8, 6} << 0LL << Ints{0, 0} << Ints{2, 6};
    QTest::newRow("opt size 2 rank 1")
        << Ints{2, 4} << Ints{1, -1} << 1 << 2 << Ints{8, 6} << 1LL << Ints{2, 0} << Ints{4, 6};
    QTest::newRow("opt size 2 rank 2")
        << Ints{2, 4} << Ints{1, -1} << 1 << 2 << Ints{8, 6} << 2LL << Ints{0, 0} << Ints{2, 6};
    QTest::newRow("opt size 2 rank 5")
        << Ints{2, 4} << Ints{1, -1} << 1 << 2 << Ints{8, 6} << 5LL << Ints{6, 0} << Ints{8, 6};
    // Step set but size 0: inactive (spec §4.1).
    QTest::newRow("opt step only") << Ints{2, 4} << Ints{1, -1} << 1 << 0 << Ints{8, 6} << 5LL << Ints{4, 0}
                                   << Ints{8, 6};
    // Replicated weight, optimizer-sharded over all 4 replicas.
    QTest::newRow("replicated opt -1")
        << Ints{4} << Ints{-1, -1} << 1 << -1 << Ints{8, 2} << 3LL << Ints{6, 0} << Ints{8, 2};
    QTest::newRow("1-D split") << Ints{2} << Ints{0} << 0 << 0 << Ints{6} << 1LL << Ints{3} << Ints{6};
    QTest::newRow("scalar") << Ints{2} << Ints{} << 0 << 0 << Ints{} << 1LL << Ints{} << Ints{};
}

void TestLayout::rankSlice() {
    QFETCH(Ints, dev);
    QFETCH(Ints, map);
    QFETCH(int, step);
    QFETCH(int, size);
    QFETCH(Ints, shape);
    QFETCH(qlonglong, rank);
    QFETCH(Ints, begin);
    QFETCH(Ints, end);
    const ParamLayout layout = flatLayout(dev, map, step, size);
    const auto full = vec(shape);
    auto box = lms::rankSlice(layout, full, rank);
    QVERIFY2(box.has_value(), box ? "" : box.error().describe().c_str());
    QCOMPARE(ints(box->begin), begin);
    QCOMPARE(ints(box->end), end);
    // The slice's shape leads back to the full shape (spec §4.9).
    auto inferred = lms::inferFullShape(layout, box->shape());
    QVERIFY(inferred.has_value());
    QCOMPARE(ints(*inferred), shape);
}

void TestLayout::nestedRankSlice_data() {
    QTest::addColumn<Ints>("dev");
    QTest::addColumn<QList<Ints>>("map");
    QTest::addColumn<Ints>("shape");
    QTest::addColumn<qlonglong>("rank");
    QTest::addColumn<Ints>("begin");
    QTest::addColumn<Ints>("end");
    // Dim 0 split by axes 0 then 1 (map values 1, 0): part = c0 * 2 + c1 = rank.
    QTest::newRow("[[1,0],-1] rank 2")
        << Ints{2, 2} << QList<Ints>{{1, 0}, {}} << Ints{8, 3} << 2LL << Ints{4, 0} << Ints{6, 3};
    // Reversed significance: part = c1 * 2 + c0; rank 1 = (0,1) -> part 2, rank 2 = (1,0) -> part 1.
    QTest::newRow("[[0,1],-1] rank 1")
        << Ints{2, 2} << QList<Ints>{{0, 1}, {}} << Ints{8, 3} << 1LL << Ints{4, 0} << Ints{6, 3};
    QTest::newRow("[[0,1],-1] rank 2")
        << Ints{2, 2} << QList<Ints>{{0, 1}, {}} << Ints{8, 3} << 2LL << Ints{2, 0} << Ints{4, 3};
    // 1-D tensor over axes 0 and 2 of [2,2,2]: rank 5 = (1,0,1) -> part 1*2+1 = 3.
    QTest::newRow("1-D [[2,0]] rank 5")
        << Ints{2, 2, 2} << QList<Ints>{{2, 0}} << Ints{8} << 5LL << Ints{6} << Ints{8};
    // Nested dims plus a plain split dim: dim 1 by axis 2 (map 0).
    QTest::newRow("[[2,1],[0]] rank 7")
        << Ints{2, 2, 2} << QList<Ints>{{2, 1}, {0}} << Ints{8, 4} << 7LL << Ints{6, 2} << Ints{8, 4};
}

void TestLayout::nestedRankSlice() {
    QFETCH(Ints, dev);
    QFETCH(QList<Ints>, map);
    QFETCH(Ints, shape);
    QFETCH(qlonglong, rank);
    QFETCH(Ints, begin);
    QFETCH(Ints, end);
    const ParamLayout layout = nestedLayout(dev, map);
    auto box = lms::rankSlice(layout, vec(shape), rank);
    QVERIFY2(box.has_value(), box ? "" : box.error().describe().c_str());
    QCOMPARE(ints(box->begin), begin);
    QCOMPARE(ints(box->end), end);
    auto pieces = lms::localSlicePieces(layout, vec(shape));  // also checks exact coverage
    QVERIFY(pieces.has_value());
}

void TestLayout::sliceErrors_data() {
    QTest::addColumn<Ints>("dev");
    QTest::addColumn<Ints>("map");
    QTest::addColumn<int>("step");
    QTest::addColumn<int>("size");
    QTest::addColumn<Ints>("shape");
    QTest::addColumn<QString>("expected");
    QTest::newRow("not divisible") << Ints{2} << Ints{0} << 0 << 0 << Ints{5} << u"does not divide into 2"_qs;
    QTest::newRow("map longer than shape")
        << Ints{2} << Ints{0, -1} << 0 << 0 << Ints{4} << u"does not fit shape"_qs;
    QTest::newRow("opt size 3 of 4 replicas") << Ints{4} << Ints{-1} << 1 << 3 << Ints{12}
                                              << u"opt_weight_shard_size 3 does not divide the 4 ranks"_qs;
    QTest::newRow("opt rows not divisible")
        << Ints{4} << Ints{-1} << 1 << -1 << Ints{6} << u"do not divide into 4 optimizer-shard pieces"_qs;
}

void TestLayout::sliceErrors() {
    QFETCH(Ints, dev);
    QFETCH(Ints, map);
    QFETCH(int, step);
    QFETCH(int, size);
    QFETCH(Ints, shape);
    QFETCH(QString, expected);
    const ParamLayout layout = flatLayout(dev, map, step, size);
    auto box = lms::rankSlice(layout, vec(shape), 0);
    QVERIFY(!box.has_value());
    QCOMPARE(box.error().parameter, std::string("w"));
    QVERIFY2(QString::fromStdString(box.error().message).contains(expected), box.error().message.c_str());
    QVERIFY(!lms::localSlicePieces(layout, vec(shape)).has_value());
}

void TestLayout::inferFullShape_data() {
    QTest::addColumn<Ints>("dev");
    QTest::addColumn<Ints>("map");
    QTest::addColumn<int>("step");
    QTest::addColumn<int>("size");
    QTest::addColumn<Ints>("stored");
    QTest::addColumn<Ints>("full");  // empty + ok=false: an error
    QTest::addColumn<bool>("ok");
    QTest::newRow("ex1") << Ints{2, 4} << Ints{1, -1} << 0 << 0 << Ints{4, 6} << Ints{8, 6} << true;
    // §4.13: "Full-shape inference from [4,2]: x[1,4] -> [4,8], dim 0 x k=2 -> [8,8]".
    QTest::newRow("ex2") << Ints{2, 4} << Ints{-1, 0} << 4 << -1 << Ints{4, 2} << Ints{8, 8} << true;
    QTest::newRow("size-2 variant") << Ints{4, 2} << Ints{-1, 0} << 2 << 2 << Ints{8, 2} << Ints{16, 4}
                                    << true;
    QTest::newRow("replicated") << Ints{2} << Ints{-1, -1} << 0 << 0 << Ints{3, 5} << Ints{3, 5} << true;
    QTest::newRow("dims count differs") << Ints{2} << Ints{0, -1} << 0 << 0 << Ints{4} << Ints{} << false;
    QTest::newRow("overflow") << Ints{2} << Ints{0} << 0 << 0 << Ints{qlonglong(1) << 62} << Ints{} << false;
}

void TestLayout::inferFullShape() {
    QFETCH(Ints, dev);
    QFETCH(Ints, map);
    QFETCH(int, step);
    QFETCH(int, size);
    QFETCH(Ints, stored);
    QFETCH(Ints, full);
    QFETCH(bool, ok);
    auto inferred = lms::inferFullShape(flatLayout(dev, map, step, size), vec(stored));
    QCOMPARE(inferred.has_value(), ok);
    if (ok)
        QCOMPARE(ints(*inferred), full);
    else
        QCOMPARE(inferred.error().parameter, std::string("w"));
}

void TestLayout::replicaGroup_data() {
    QTest::addColumn<Ints>("dev");
    QTest::addColumn<Ints>("map");
    QTest::addColumn<qlonglong>("rank");
    QTest::addColumn<Ints>("group");
    QTest::newRow("ex1 rank 5") << Ints{2, 4} << Ints{1, -1} << 5LL << Ints{4, 5, 6, 7};
    QTest::newRow("ex2 rank 1") << Ints{2, 4} << Ints{-1, 0} << 1LL << Ints{1, 5};  // step (5-1)/(2-1) = 4
    QTest::newRow("size-2 variant rank 0") << Ints{4, 2} << Ints{-1, 0} << 0LL << Ints{0, 2, 4, 6};
    QTest::newRow("fully split") << Ints{2, 2} << Ints{1, 0} << 3LL << Ints{3};
    QTest::newRow("replicated") << Ints{3} << Ints{-1} << 1LL << Ints{0, 1, 2};
}

void TestLayout::replicaGroup() {
    QFETCH(Ints, dev);
    QFETCH(Ints, map);
    QFETCH(qlonglong, rank);
    QFETCH(Ints, group);
    QCOMPARE(ints(lms::replicaGroup(flatLayout(dev, map), rank)), group);
}

void TestLayout::optShardPieces_data() {
    QTest::addColumn<Ints>("dev");
    QTest::addColumn<Ints>("map");
    QTest::addColumn<int>("step");
    QTest::addColumn<int>("size");
    QTest::addColumn<qlonglong>("pieces");
    QTest::newRow("inactive") << Ints{2, 4} << Ints{-1, 0} << 0 << 0 << 1LL;
    QTest::newRow("size -1 -> replicas") << Ints{2, 4} << Ints{-1, 0} << 4 << -1 << 2LL;
    QTest::newRow("size -1 replicated 8") << Ints{8} << Ints{-1, -1} << 1 << -1 << 8LL;
    QTest::newRow("size 2") << Ints{4, 2} << Ints{-1, 0} << 2 << 2 << 2LL;
}

void TestLayout::optShardPieces() {
    QFETCH(Ints, dev);
    QFETCH(Ints, map);
    QFETCH(int, step);
    QFETCH(int, size);
    QFETCH(qlonglong, pieces);
    auto k = lms::optShardPieces(flatLayout(dev, map, step, size));
    QVERIFY(k.has_value());
    QCOMPARE(qlonglong(*k), pieces);
}

void TestLayout::pieces_data() {
    QTest::addColumn<Ints>("dev");
    QTest::addColumn<Ints>("map");
    QTest::addColumn<int>("step");
    QTest::addColumn<int>("size");
    QTest::addColumn<Ints>("stages");
    QTest::addColumn<Ints>("shape");
    QTest::addColumn<QStringList>("expected");  // "box: ranks"
    QTest::newRow("ex1") << Ints{2, 4} << Ints{1, -1} << 0 << 0 << Ints{0} << Ints{8, 6}
                         << QStringList{u"[0:4, 0:6]: 0 1 2 3"_qs, u"[4:8, 0:6]: 4 5 6 7"_qs};
    // Example 3: layer 1 lives in stage 1 = global ranks 4..7; rank 4 and 5 are the sources.
    QTest::newRow("ex3 stage 1") << Ints{2, 2} << Ints{0, -1} << 0 << 0 << Ints{1} << Ints{8, 4}
                                 << QStringList{u"[0:4, 0:4]: 4 6"_qs, u"[4:8, 0:4]: 5 7"_qs};
    QTest::newRow("shared by stages 0 and 1") << Ints{2} << Ints{-1, -1} << 0 << 0 << Ints{0, 1} << Ints{4, 2}
                                              << QStringList{u"[0:4, 0:2]: 0 1 2 3"_qs};
    QTest::newRow("size-2 variant") << Ints{4, 2} << Ints{-1, 0} << 2 << 2 << Ints{0} << Ints{16, 4}
                                    << QStringList{u"[0:8, 0:2]: 0 4"_qs, u"[0:8, 2:4]: 1 5"_qs,
                                                   u"[8:16, 0:2]: 2 6"_qs, u"[8:16, 2:4]: 3 7"_qs};
}

void TestLayout::pieces() {
    QFETCH(Ints, dev);
    QFETCH(Ints, map);
    QFETCH(int, step);
    QFETCH(int, size);
    QFETCH(Ints, stages);
    QFETCH(Ints, shape);
    QFETCH(QStringList, expected);
    ParamLayout layout = flatLayout(dev, map, step, size);
    layout.stages.assign(stages.begin(), stages.end());
    auto pieces = lms::globalSlicePieces(layout, vec(shape));
    QVERIFY2(pieces.has_value(), pieces ? "" : pieces.error().describe().c_str());
    QStringList actual;
    for (const auto& piece : *pieces) {
        QString line = QString::fromStdString(piece.box.text()) + u':';
        for (int64_t r : piece.ranks) line += u' ' + QString::number(r);
        actual << line;
    }
    QCOMPARE(actual, expected);
}

void TestLayout::coverage_data() {
    QTest::addColumn<QList<Ints>>("boxes");  // begin0, begin1, end0, end1 per box
    QTest::addColumn<QString>("error");      // empty: exact cover
    QTest::newRow("rows") << QList<Ints>{{0, 0, 4, 6}, {4, 0, 8, 6}} << QString();
    QTest::newRow("grid") << QList<Ints>{{0, 0, 4, 3}, {0, 3, 4, 6}, {4, 0, 8, 3}, {4, 3, 8, 6}} << QString();
    QTest::newRow("missing piece") << QList<Ints>{{0, 0, 4, 6}}
                                   << u"elements [4:8, 0:6] of the full shape [8, 6] are not held"_qs;
    QTest::newRow("missing corner") << QList<Ints>{{0, 0, 4, 6}, {4, 0, 8, 3}}
                                    << u"elements [4:8, 3:6] of the full shape [8, 6] are not held"_qs;
    QTest::newRow("overlap") << QList<Ints>{{0, 0, 5, 6}, {4, 0, 8, 6}}
                             << u"elements [4:5, 0:6] are held by more than one"_qs;
    QTest::newRow("outside") << QList<Ints>{{0, 0, 4, 6}, {4, 0, 9, 6}} << u"lies outside the full shape"_qs;
}

void TestLayout::coverage() {
    QFETCH(QList<Ints>, boxes);
    QFETCH(QString, error);
    std::vector<Box> list;
    for (const Ints& b : boxes) list.push_back(Box{{b[0], b[1]}, {b[2], b[3]}});
    const std::vector<int64_t> full{8, 6};
    auto status = lms::checkExactCover(list, full, "p");
    QCOMPARE(status.has_value(), error.isEmpty());
    if (!status) {
        QCOMPARE(status.error().parameter, std::string("p"));
        QVERIFY2(QString::fromStdString(status.error().message).contains(error),
                 status.error().message.c_str());
    }
}

void TestLayout::contiguousRuns_data() {
    QTest::addColumn<Ints>("shape");
    QTest::addColumn<Ints>("begin");
    QTest::addColumn<Ints>("end");
    QTest::addColumn<QString>("runs");  // "slice:full:bytes" separated by spaces, element size 2
    QTest::newRow("row block") << Ints{4, 6} << Ints{2, 0} << Ints{4, 6} << u"0:24:24"_qs;
    QTest::newRow("column block") << Ints{4, 6} << Ints{0, 2} << Ints{4, 4}
                                  << u"0:4:4 4:16:4 8:28:4 12:40:4"_qs;
    QTest::newRow("inner block") << Ints{4, 6} << Ints{1, 3} << Ints{3, 6} << u"0:18:6 6:30:6"_qs;
    QTest::newRow("3-D fused tail") << Ints{2, 3, 4} << Ints{1, 1, 0} << Ints{2, 3, 4} << u"0:32:16"_qs;
    QTest::newRow("3-D middle") << Ints{2, 3, 4} << Ints{0, 1, 1} << Ints{2, 2, 3} << u"0:10:4 4:34:4"_qs;
    QTest::newRow("whole") << Ints{2, 3} << Ints{0, 0} << Ints{2, 3} << u"0:0:12"_qs;
    QTest::newRow("scalar") << Ints{} << Ints{} << Ints{} << u"0:0:2"_qs;
}

void TestLayout::contiguousRuns() {
    QFETCH(Ints, shape);
    QFETCH(Ints, begin);
    QFETCH(Ints, end);
    QFETCH(QString, runs);
    QStringList actual;
    const auto full = vec(shape);
    lms::forEachContiguousRun(full, Box{vec(begin), vec(end)}, 2,
                              [&](uint64_t slice, uint64_t at, uint64_t bytes) {
                                  actual << u"%1:%2:%3"_qs.arg(slice).arg(at).arg(bytes);
                              });
    QCOMPARE(actual.join(u' '), runs);
}

void TestLayout::roundTrip_data() {
    QTest::addColumn<Ints>("dev");
    QTest::addColumn<Ints>("map");
    QTest::addColumn<int>("step");
    QTest::addColumn<int>("size");
    QTest::addColumn<Ints>("shape");
    QTest::newRow("ex1") << Ints{2, 4} << Ints{1, -1} << 0 << 0 << Ints{8, 6};
    QTest::newRow("ex2") << Ints{2, 4} << Ints{-1, 0} << 4 << -1 << Ints{8, 8};
    QTest::newRow("size-2 variant") << Ints{4, 2} << Ints{-1, 0} << 2 << 2 << Ints{16, 4};
    QTest::newRow("2x2x2 [2,0]") << Ints{2, 2, 2} << Ints{2, 0} << 0 << 0 << Ints{4, 6};
    QTest::newRow("2x2x2 [0,2] opt") << Ints{2, 2, 2} << Ints{0, 2} << 2 << -1 << Ints{8, 6};
    QTest::newRow("3-D middle split") << Ints{4} << Ints{-1, 0, -1} << 0 << 0 << Ints{2, 8, 3};
}

// Cut a full tensor of distinct values into every rank's stored piece, then reassemble it from
// the distinct pieces (lowest rank each): the result must be the original tensor.
void TestLayout::roundTrip() {
    QFETCH(Ints, dev);
    QFETCH(Ints, map);
    QFETCH(int, step);
    QFETCH(int, size);
    QFETCH(Ints, shape);
    const ParamLayout layout = flatLayout(dev, map, step, size);
    const auto full = vec(shape);
    const uint64_t count = Box{std::vector<int64_t>(full.size(), 0), full}.elementCount();
    std::vector<int32_t> original(count);
    std::iota(original.begin(), original.end(), 1000);
    std::vector<std::vector<int32_t>> stored(size_t(lms::devicesOf(layout)));
    for (int64_t rank = 0; rank < lms::devicesOf(layout); ++rank) {
        auto box = lms::rankSlice(layout, full, rank);
        QVERIFY(box.has_value());
        auto& piece = stored[size_t(rank)];
        piece.resize(box->elementCount());
        lms::forEachContiguousRun(full, *box, 4, [&](uint64_t slice, uint64_t at, uint64_t bytes) {
            std::memcpy(reinterpret_cast<char*>(piece.data()) + slice,
                        reinterpret_cast<const char*>(original.data()) + at, bytes);
        });
    }
    auto pieces = lms::localSlicePieces(layout, full);
    QVERIFY(pieces.has_value());
    std::vector<int32_t> rebuilt(count, -1);
    for (const auto& piece : *pieces) {
        const auto& source = stored[size_t(piece.ranks.front())];
        lms::forEachContiguousRun(full, piece.box, 4, [&](uint64_t slice, uint64_t at, uint64_t bytes) {
            std::memcpy(reinterpret_cast<char*>(rebuilt.data()) + at,
                        reinterpret_cast<const char*>(source.data()) + slice, bytes);
        });
        for (int64_t replica : piece.ranks) QCOMPARE(stored[size_t(replica)], source);  // replicas agree
    }
    QCOMPARE(rebuilt, original);
}

QTEST_GUILESS_MAIN(TestLayout)
#include "tst_layout.moc"
