"""ssm_tdi: SSM-induced kernels and Task-Dependent Initialization of state space models.

Verifies and reproduces "Aligning Inductive Bias for Data-Efficient Generalization in
State Space Models" (arXiv 2509.20789). The claims C1-C6, experiments E1-E3 and open
questions Q1-Q3, with the formulas behind the symbols below, are stated in docs/claims.md.

Glossary (code name -> symbol of docs/claims.md)
------------------------------------------------
``A``        a_n = -exp(r_n) + i theta_n   continuous-time poles, one per complex mode
``B``, ``C`` B_n, C_n                      complex input / output coefficients
``dt``       dt = exp(log_dt)             step size
``lam``      lambda_n                     discrete poles (ZOH: exp(dt a_n))
``Bbar``     Bbar_n                       discretized input coefficients
``c``        c_n = C_n Bbar_n             mode residues (:func:`kernels.mode_coefficients`)
``N2``       N/2                          number of complex modes; conjugates implied
``K``        K_m, m = 0..L-1              convolution kernel (:func:`kernels.ssm_kernel`)
``H``        H(w)                         transfer function (:func:`kernels.frequency_response`)
``Hhat``     Hhat_j = H_L(w_j)            length-L DFT of K, w_j = 2 pi j / L
``T``, ``C`` T, C                         Toeplitz / circulant operators (:mod:`operators`)
``eta``      eta_r                        induced-kernel eigenvalues (:func:`operators.induced_kernel_spectrum`)
``a2``       a_r^2                        target power per eigenmode
``P``        P                            number of training samples
``ridge``    lambda (ridge)               readout regularization (:mod:`learning_curves`)
``S_task``   S_task(w_j)                  task power spectrum on the rfft grid
``L_spec``   L_spec                       spectral matching loss (C5)

Modules: :mod:`kernels` (discretization, K, H), :mod:`operators` (T, C and the induced
kernel's spectrum), :mod:`learning_curves` (C4 theory).
"""

__version__ = "0.1.0"
