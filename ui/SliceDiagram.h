#pragma once
// Draws a full tensor cut into the slices of its parallel layout: dimension 0 downwards,
// dimension 1 across (a 1-D tensor is one bar), each slice labelled with the ranks that hold it.
// Slices that differ only in dimensions beyond the first two share a rectangle and list them.

#include "lms/distributed/Layout.h"

#include <QStringList>
#include <QWidget>
#include <vector>

namespace lms::ui {

class SliceDiagram final : public QWidget {
    Q_OBJECT
public:
    explicit SliceDiagram(QWidget* parent = nullptr);
    // `labels[i]`, when given, names piece i instead of its ranks (e.g. the file that stores it).
    void setSlices(const QString& name, std::vector<int64_t> fullShape, std::vector<SlicePiece> pieces,
                   QStringList labels = {});
    void setMessage(const QString& message);
    // A few words before the subtitle ("As the merge writes it (dst.ckpt)"); kept across setSlices.
    void setCaption(const QString& caption);
    const QString& caption() const { return m_caption; }
    const std::vector<SlicePiece>& pieces() const { return m_pieces; }
    const QStringList& labels() const { return m_labels; }
    const QString& message() const { return m_message; }  // shown instead of slices (none drawn)
    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    QString m_name;
    std::vector<int64_t> m_shape;
    std::vector<SlicePiece> m_pieces;
    QStringList m_labels;
    QString m_message;
    QString m_caption;
};

// "rank 3" / "ranks 0, 2" / "ranks 0–7".
QString ranksLabel(const std::vector<int64_t>& ranks);

}  // namespace lms::ui
