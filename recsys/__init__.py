"""FactorLab core: data, models, evaluation, explanation, recommendation, embedding, CLI.

Never imports streamlit.

Notation (as Surprise's):
    r_ui      the rating of user u for item i; R the set of observed ratings
    mu        the global mean of the training ratings (``trainset.global_mean``)
    b_u, b_i  user and item biases (``bu``, ``bi``)
    p_u, q_i  user and item factor vectors of length k = ``n_factors`` (``pu``, ``qi``)
    r̂_ui      the estimate  mu + b_u + b_i + q_iᵀp_u  (biased models; unbiased: q_iᵀp_u),
              clipped to the rating scale by ``predict``
"""
__version__ = "0.1.0"
