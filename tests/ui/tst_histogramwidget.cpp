// HistogramWidget's range labels at every width: min and max at the ends with "dashed: 0" between
// them when it clears both, one elided "min … max" when they do not fit side by side; never two
// labels overlapping and never one outside the widget (the 200 % case of a 1600×1000 screen).

#include "HistogramWidget.h"

#include <QtTest>

using namespace lms::ui;

class TestHistogramWidget : public QObject {
    Q_OBJECT
private slots:
    void labelsNeverOverlap_data();
    void labelsNeverOverlap();
};

void TestHistogramWidget::labelsNeverOverlap_data() {
    QTest::addColumn<int>("width");
    QTest::addColumn<double>("min");
    QTest::addColumn<double>("max");
    QTest::addColumn<QStringList>("texts");  // "…" marks the one elided range label
    const QStringList three{QStringLiteral("-0.199463"), QStringLiteral("0.199463"),
                            QStringLiteral("dashed: 0")};
    QTest::newRow("wide, range across 0") << 600 << -0.199463 << 0.199463 << three;
    QTest::newRow("wide, positive range")
        << 600 << 1.5 << 2.5 << QStringList{QStringLiteral("1.5"), QStringLiteral("2.5")};
    QTest::newRow("narrow: the zero caption goes")
        << 190 << -0.199463 << 0.199463
        << QStringList{QStringLiteral("-0.199463"), QStringLiteral("0.199463")};
    QTest::newRow("very narrow: one elided range")
        << 90 << -0.199463 << 0.199463 << QStringList{QStringLiteral("…")};
}

void TestHistogramWidget::labelsNeverOverlap() {
    QFETCH(int, width);
    QFETCH(double, min);
    QFETCH(double, max);
    QFETCH(QStringList, texts);
    HistogramWidget widget;
    widget.resize(width, 140);
    widget.setHistogram({1, 4, 9, 4, 1}, min, max);
    const auto labels = widget.axisLabels();
    QStringList drawn;
    for (const auto& label : labels) drawn << label.text;
    if (texts == QStringList{QStringLiteral("…")}) {
        QCOMPARE(labels.size(), size_t(1));
        // Elided in the middle: it still starts with the minimum, and ends with the maximum's end.
        QVERIFY2(
            drawn.front().startsWith(QStringLiteral("-0.1")) && drawn.front().endsWith(QStringLiteral("63")),
            qPrintable(drawn.front()));
        QVERIFY(drawn.front().size() < QStringLiteral("-0.199463 … 0.199463").size());
    } else {
        QCOMPARE(drawn, texts);
    }
    const QRectF inside = QRectF(widget.rect());
    for (size_t i = 0; i < labels.size(); ++i) {
        QVERIFY2(inside.contains(labels[i].rect), qPrintable(labels[i].text));
        for (size_t j = i + 1; j < labels.size(); ++j)
            QVERIFY2(!labels[i].rect.intersects(labels[j].rect),
                     qPrintable(labels[i].text + QStringLiteral(" / ") + labels[j].text));
    }
}

QTEST_MAIN(TestHistogramWidget)
#include "tst_histogramwidget.moc"
