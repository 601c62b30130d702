#pragma once
// A histogram of a tensor's values (bins from TensorStatistics), drawn with the palette so it
// follows light and dark themes. Hovering a bar tells its range and count.

#include <QWidget>
#include <vector>

class QPainter;

namespace lms::ui {

class HistogramWidget final : public QWidget {
    Q_OBJECT
public:
    explicit HistogramWidget(QWidget* parent = nullptr);
    void setHistogram(std::vector<uint64_t> bins, double min, double max);
    // Shown instead of bars (e.g. "Computing…", "No numeric values").
    void setMessage(const QString& message);
    void setLogScale(bool logScale);
    bool logScale() const { return m_logScale; }
    const std::vector<uint64_t>& bins() const { return m_bins; }
    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;
    // The range labels under the bars, where they are drawn: min and max, "dashed: 0" between them
    // when it clears both, or one elided "min … max" when the two do not fit side by side.
    struct AxisLabel {
        QString text;
        QRectF rect;
    };
    std::vector<AxisLabel> axisLabels() const;

protected:
    void paintEvent(QPaintEvent* event) override;
    bool event(QEvent* event) override;

private:
    QRectF plotRect() const;
    void drawLabels(QPainter& painter, const QRectF& plot, uint64_t peak) const;
    int binAt(QPointF position) const;

    std::vector<uint64_t> m_bins;
    double m_min = 0, m_max = 0;
    QString m_message;
    bool m_logScale = false;
};

}  // namespace lms::ui
