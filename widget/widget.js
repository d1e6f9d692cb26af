console.log('[feedback] placeholder');
