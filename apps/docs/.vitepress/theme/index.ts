// The default VitePress theme plus the live demos and the source-line highlighting that
// makes `/source/...#L12-L40` links land on the right lines.
import DefaultTheme from 'vitepress/theme';
import type { Theme } from 'vitepress';
import BenchmarkTables from './components/BenchmarkTables.vue';
import MacVsSwaDemo from './components/MacVsSwaDemo.vue';
import MacVsSwaTrainDemo from './components/MacVsSwaTrainDemo.vue';
import NiahDemo from './components/NiahDemo.vue';
import SurpriseDemo from './components/SurpriseDemo.vue';
import { highlightSourceLines } from './source-lines';
import './style.css';

const theme: Theme = {
  extends: DefaultTheme,
  enhanceApp({ app, router }) {
    app.component('SurpriseDemo', SurpriseDemo);
    app.component('NiahDemo', NiahDemo);
    app.component('MacVsSwaDemo', MacVsSwaDemo);
    app.component('MacVsSwaTrainDemo', MacVsSwaTrainDemo);
    app.component('BenchmarkTables', BenchmarkTables);
    if (typeof window !== 'undefined') {
      const previous = router.onAfterRouteChange;
      router.onAfterRouteChange = async (to) => {
        await previous?.(to);
        highlightSourceLines();
      };
      window.addEventListener('hashchange', highlightSourceLines);
      window.addEventListener('load', highlightSourceLines);
    }
  },
};

export default theme;
