#pragma once
// The Compare tab: the open checkpoint (A) against a second one (B, typically the merged output),
// tensor by tensor (CompareModel). Opening B and comparing both read files, so they run on a
// worker thread with progress and Cancel; "Only differences" hides the identical tensors.

#include "Workspace.h"

#include <QWidget>
#include <memory>

class QCheckBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTableView;

namespace lms::ui {

class AnalysisRunner;
class CompareFilterModel;
class CompareModel;

class CompareTab final : public QWidget {
    Q_OBJECT
public:
    explicit CompareTab(QWidget* parent = nullptr);
    ~CompareTab() override;

    void setModel(std::shared_ptr<const LoadedModel> model);
    void clear();
    // Compares the open model with the checkpoint at `path` (a file or a distributed folder, found
    // as the browser finds it); false when nothing is open or a comparison cannot start.
    bool compareWith(const QString& path);
    void cancel();

    CompareModel* compareModel() const { return m_model; }
    CompareFilterModel* filterModel() const { return m_filter; }
    QTableView* view() const { return m_view; }
    AnalysisRunner* runner() const { return m_runner; }
    QCheckBox* onlyDifferences() const { return m_onlyDiff; }
    QString statusText() const;

signals:
    void comparisonFinished(bool ok);

private:
    void chooseOther();
    void setRunning(bool running);
    void onFinished();
    void onFailed(const QString& message, bool cancelled);

    struct Pending;
    std::shared_ptr<const LoadedModel> m_loaded;
    std::shared_ptr<Pending> m_pending;
    AnalysisRunner* m_runner;
    CompareModel* m_model;
    CompareFilterModel* m_filter;
    QLineEdit* m_otherEdit;
    QPushButton* m_browseButton;
    QPushButton* m_compareButton;
    QPushButton* m_cancelButton;
    QCheckBox* m_onlyDiff;
    QProgressBar* m_progress;
    QLabel* m_status;
    QTableView* m_view;
};

}  // namespace lms::ui
