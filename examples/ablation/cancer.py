"""Breast-cancer diagnosis (the Wisconsin data bundled with scikit-learn, no
network) for a feature ablation: which groups of the 30 measurements carry
the accuracy. Plain Python: runs by hand as train(C=1.0)."""
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from maggy import ablation


def train(C, ablate=None, seed=0):
    data = load_breast_cancer()
    X, names = ablation.drop_features(data.data, ablate,
                                      names=data.feature_names)
    X_train, X_test, y_train, y_test = train_test_split(
        X, data.target, test_size=0.3, random_state=seed,
        stratify=data.target)
    model = make_pipeline(StandardScaler(),
                          LogisticRegression(C=C, max_iter=5000))
    model.fit(X_train, y_train)
    print(f"{len(names)} features, seed {seed}")
    return {"accuracy": model.score(X_test, y_test)}
